using Blueback.Client;
using Blueback.Protocol;
using Blueback.Protocol.Wire;
using Blueback.Repository;
using Blueback.Repository.Compression;

namespace Blueback.Backup;

/// <summary>Files received as chunk frames: the server cut, hashed and compressed them where the bytes leave it, and
/// left out the chunks the repository holds (<see cref="BackupSession.SendKnownChunksAsync"/>); here each payload's
/// CRC32C is checked and the chunk goes to the writer as it came. A database image is read in parts over several
/// connections at once (each part whole chunks, at most <c>streams</c> in flight, handed to the writer in order), since
/// one connection is bound by the one core that reads, hashes and compresses on the server.</summary>
internal sealed class ServerChunks(BackupSession session, BackupSetWriter writer, string codec, int streams)
{
    private long _wireBytes;
    private long _unreadBytes;

    /// <summary>Bytes of frames received: headers and payloads.</summary>
    public long WireBytes => Interlocked.Read(ref _wireBytes);

    /// <summary>Bytes of images the server passed over unread, named from the base set instead.</summary>
    public long UnreadBytes => Interlocked.Read(ref _unreadBytes);

    /// <summary>The wire codec to ask for when the server and the set allow prepared chunks (the set's zstd level, or
    /// none); null when the stream must come raw and be compressed here.</summary>
    /// <param name="format">The repository's format (prepared chunks need format 2's content-named chunks).</param>
    /// <param name="codec">The set's codec.</param>
    /// <param name="offered">The codecs the server offers (null from a server that sends only raw streams).</param>
    public static string? CodecFor(int format, string codec, IReadOnlyList<string>? offered)
    {
        bool zstd = codec.StartsWith("zstd", StringComparison.Ordinal);
        if (format < 2 || offered is null || !(zstd || codec == "none"))
        {
            return null;
        }
        return offered.Contains(zstd ? "zstd" : "none") ? codec : null;
    }

    /// <summary>The content of a file received whole as frames (a shipped generation, which the shipper checks
    /// record by record before storing): each payload's CRC32C checked, decompressed, and its content checked against
    /// the hash that will name it.</summary>
    public static byte[] Reassemble(IReadOnlyList<(ChunkFrame Frame, byte[] Payload)> frames, string what)
    {
        var bytes = new byte[frames.Sum(f => (long)f.Frame.RawSize)];
        var zstd = Codec.ByName("zstd-1");
        int at = 0;
        foreach (var (frame, payload) in frames)
        {
            if (frame.Kind != ChunkFrameKind.Data || IO.Crc32C.Compute(0, payload) != frame.PayloadCrc32C)
            {
                throw new BackupStreamException($"A chunk of {what} arrived changed (its payload fails the CRC32C the server sent) or without its payload.", null);
            }
            var raw = bytes.AsSpan(at, frame.RawSize);
            if (frame.Codec == WireCodec.Zstd)
            {
                zstd.Decompress(payload, raw);
            }
            else
            {
                payload.CopyTo(raw);
            }
            if (!System.Security.Cryptography.SHA256.HashData(raw).AsSpan().SequenceEqual(frame.ContentHash))
            {
                throw new BackupStreamException($"A chunk of {what} does not hash to the SHA-256 the server sent with it.", null);
            }
            at += frame.RawSize;
        }
        return bytes;
    }

    /// <summary>Adds a file received whole as frames (<see cref="Reassemble"/> checked them) to the writer, each chunk's
    /// payload as it came.</summary>
    public static async Task AddReceivedAsync(BackupSetWriter writer, string path, IReadOnlyList<(ChunkFrame Frame, byte[] Payload)> frames, CancellationToken ct)
    {
        var file = writer.BeginPreparedFile(path);
        foreach (var (frame, payload) in frames)
        {
            var buffer = writer.RentReceiveBuffer(payload.Length);
            payload.CopyTo(buffer.Memory);
            await writer.AddPreparedChunkAsync(file, frame.RawSize, frame.ContentHash, frame.Codec == WireCodec.Zstd, buffer, frame.PayloadCrc32C, ct).ConfigureAwait(false);
        }
        writer.CompletePreparedFile(file);
    }

    /// <summary>A whole database image (<paramref name="length"/> bytes, chunks ending at <paramref name="cuts"/> too),
    /// in parts of about <see cref="BackupRequest.PartSize"/> over <c>streams</c> connections. With <c>unchangedFrom</c> (a
    /// full begun with a page base: the base set's chunks of this image by offset, <see cref="UnchangedBase.ChunksOf"/>),
    /// the server passes over chunks of unchanged pages and they are named from there.</summary>
    public async Task AddImageAsync(string path, string database, long length, IReadOnlyList<long> cuts, Action<long> progress, CancellationToken ct, IReadOnlyDictionary<long, (int RawSize, byte[] Hash)>? unchangedFrom = null)
    {
        var file = writer.BeginPreparedFile(path);
        var parts = Parts(ChunkLayout.Chunks(length, writer.ChunkSize, cuts)).GetEnumerator();
        // Progress counts chunks as they arrive, whatever part they are in: a part (four chunks) is handed to the writer
        // only once whole, and on a slow link that would leave the progress still for a part's time.
        long arrived = 0;
        var gate = new Lock();
        void Arrived(int bytes)
        {
            lock (gate)
            {
                arrived += bytes;
                progress(arrived);
            }
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var inFlight = new Queue<Task<List<Received>>>();
        void Start()
        {
            while (inFlight.Count < streams && parts.MoveNext())
            {
                var part = parts.Current;
                inFlight.Enqueue(ReadPartAsync(database, part, cuts, unchangedFrom, Arrived, stop.Token));
            }
        }
        try
        {
            Start();
            while (inFlight.Count > 0)
            {
                var received = await inFlight.Peek().WaitAsync(ct).ConfigureAwait(false);
                _ = inFlight.Dequeue();
                Start();
                try
                {
                    for (int i = 0; i < received.Count; i++)
                    {
                        var r = received[i];
                        received[i] = default; // the writer's from here, whatever happens
                        await writer.AddPreparedChunkAsync(file, r.Frame.RawSize, r.Frame.ContentHash, r.Frame.Codec == WireCodec.Zstd, r.Payload, r.Frame.PayloadCrc32C, ct).ConfigureAwait(false);
                    }
                }
                catch
                {
                    ReturnAll(received);
                    throw;
                }
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var t in inFlight)
            {
                // A part still on its way gives its buffers back when it ends (to the collector, if never).
                _ = t.ContinueWith(p => { if (p.IsCompletedSuccessfully) { ReturnAll(p.Result); } }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
        writer.CompletePreparedFile(file);
    }

    /// <summary>A file read as one frame stream (changed pages, a log generation): frames handed to the writer as
    /// they arrive.</summary>
    public async Task AddStreamAsync(string path, long length, IReadOnlyList<long> cuts, Func<CancellationToken, Task<ChunkFrameReader>> open, Action<long> progress, CancellationToken ct)
    {
        var file = writer.BeginPreparedFile(path);
        await using (var reader = await open(ct).ConfigureAwait(false))
        {
            foreach (var chunk in ChunkLayout.Chunks(length, writer.ChunkSize, cuts))
            {
                var r = await ReceiveAsync(reader, chunk, ct).ConfigureAwait(false);
                await writer.AddPreparedChunkAsync(file, r.Frame.RawSize, r.Frame.ContentHash, r.Frame.Codec == WireCodec.Zstd, r.Payload, r.Frame.PayloadCrc32C, ct).ConfigureAwait(false);
                progress(file.Size);
            }
        }
        writer.CompletePreparedFile(file);
    }

    private readonly record struct Received(ChunkFrame Frame, ReceiveBuffer? Payload);

    private sealed record Part(long Offset, long Length, List<(long Offset, int Length)> Chunks);

    private static IEnumerable<Part> Parts(IEnumerable<(long Offset, int Length)> chunks)
    {
        var current = new List<(long Offset, int Length)>();
        long size = 0;
        foreach (var c in chunks)
        {
            current.Add(c);
            size += c.Length;
            if (size >= BackupRequest.PartSize)
            {
                yield return new Part(current[0].Offset, size, current);
                (current, size) = ([], 0);
            }
        }
        if (current.Count > 0)
        {
            yield return new Part(current[0].Offset, size, current);
        }
    }

    private async Task<List<Received>> ReadPartAsync(string database, Part part, IReadOnlyList<long> cuts, IReadOnlyDictionary<long, (int RawSize, byte[] Hash)>? unchangedFrom, Action<int> arrived, CancellationToken ct)
    {
        var received = new List<Received>(part.Chunks.Count);
        try
        {
            await using var reader = await session.OpenImageChunksAsync(database, part.Offset, part.Length, writer.ChunkSize, cuts, codec, ct, unchanged: unchangedFrom is not null).ConfigureAwait(false);
            foreach (var chunk in part.Chunks)
            {
                var r = await ReceiveAsync(reader, chunk, ct, unchangedAllowed: unchangedFrom is not null).ConfigureAwait(false);
                if (r.Frame.Kind == ChunkFrameKind.Unchanged)
                {
                    r = await NameUnchangedAsync(database, chunk, cuts, unchangedFrom!, ct).ConfigureAwait(false);
                }
                received.Add(r);
                arrived(chunk.Length);
            }
            return received;
        }
        catch
        {
            ReturnAll(received);
            throw;
        }
    }

    /// <summary>A chunk the server passed over as unchanged since the base set began: the base's chunk at the same place,
    /// or, where the base holds none of that size there (the image grew since, so its chunks fall elsewhere; or an old
    /// encrypted manifest kept no hash), the chunk read alone.</summary>
    private async Task<Received> NameUnchangedAsync(string database, (long Offset, int Length) chunk, IReadOnlyList<long> cuts, IReadOnlyDictionary<long, (int RawSize, byte[] Hash)> from, CancellationToken ct)
    {
        if (from.TryGetValue(chunk.Offset, out var base_) && base_.RawSize == chunk.Length)
        {
            Interlocked.Add(ref _unreadBytes, chunk.Length);
            return new Received(new ChunkFrame(ChunkFrameKind.Known, WireCodec.None, chunk.Length, 0, 0, base_.Hash), null);
        }
        await using var reader = await session.OpenImageChunksAsync(database, chunk.Offset, chunk.Length, writer.ChunkSize, cuts, codec, ct).ConfigureAwait(false);
        return await ReceiveAsync(reader, chunk, ct).ConfigureAwait(false);
    }

    /// <summary>The next frame, which must be the chunk expected there, and its payload (CRC32C checked).</summary>
    private async Task<Received> ReceiveAsync(ChunkFrameReader reader, (long Offset, int Length) chunk, CancellationToken ct, bool unchangedAllowed = false)
    {
        var frame = await reader.ReadFrameAsync(ct).ConfigureAwait(false)
            ?? throw await reader.EndedEarlyAsync($"its chunk at byte {chunk.Offset} came", ct).ConfigureAwait(false);
        if (frame.RawSize != chunk.Length)
        {
            throw new BackupStreamException($"The server sent a chunk of {frame.RawSize} bytes at byte {chunk.Offset}, where one of {chunk.Length} belongs: it cuts chunks differently from this program. Update the server and the program to the same version.", null);
        }
        Interlocked.Add(ref _wireBytes, ChunkFrame.HeaderSize + frame.PayloadSize);
        if (frame.Kind == ChunkFrameKind.Known || (frame.Kind == ChunkFrameKind.Unchanged && unchangedAllowed))
        {
            return new Received(frame, null);
        }
        if (frame.Kind == ChunkFrameKind.Unchanged)
        {
            throw new BackupStreamException($"The server passed over the chunk at byte {chunk.Offset} as unchanged, which this program did not ask for. No set was written; update the server and the program to the same version.", null);
        }
        var payload = writer.RentReceiveBuffer(frame.PayloadSize);
        try
        {
            await reader.ReadPayloadAsync(payload.Memory, ct).ConfigureAwait(false);
            if (IO.Crc32C.Compute(0, payload.Memory.Span) != frame.PayloadCrc32C)
            {
                throw new BackupStreamException($"The chunk at byte {chunk.Offset} arrived changed (its payload fails the CRC32C the server sent): the network or a proxy altered it. No set was written; take the backup again.", null);
            }
            return new Received(frame, payload);
        }
        catch
        {
            writer.ReturnReceiveBuffer(payload);
            throw;
        }
    }

    private void ReturnAll(List<Received> received)
    {
        for (int i = 0; i < received.Count; i++)
        {
            if (received[i].Payload is { } p)
            {
                writer.ReturnReceiveBuffer(p);
                received[i] = default;
            }
        }
    }
}
