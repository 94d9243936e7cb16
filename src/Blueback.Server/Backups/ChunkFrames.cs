using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using Blueback.IO;
using Blueback.Protocol.Wire;
using Blueback.Repository.Compression;
using Blueback.Storage.Backup;
using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Backups;

/// <summary>A backup stream cut into the program's chunks (<see cref="ChunkLayout"/>), each hashed (SHA-256) and
/// compressed here, where the bytes leave the server: a remote backup then moves compressed bytes, not raw pages, and
/// a chunk whose hash the program says its repository holds moves as a 56-byte header. All of it runs on the
/// background-priority threads, paced like the rest of a backup, so the instance's writers come first.</summary>
internal static class ChunkFrames
{
    private const int ReadSize = 1 << 20;
    private static readonly byte[] NoHash = new byte[32]; // an Unchanged frame's hash

    /// <summary>The codecs chunk frames can carry on this machine (zstd needs the system's libzstd).</summary>
    public static List<string> Codecs { get; } = Codec.Default().Name.StartsWith("zstd", StringComparison.Ordinal) ? ["zstd", "none"] : ["none"];

    /// <summary>How a stream is cut and encoded: the range's first byte in the file (a chunk's first byte), the chunk
    /// size, the cuts (offsets in the file) and the codec; and whether the program can name chunks of pages unchanged
    /// since the backup's page base from its base set (those then go as <see cref="ChunkFrameKind.Unchanged"/> frames,
    /// unread: a full begun with a page base).</summary>
    public sealed record Request(long Offset, int ChunkSize, List<long> Cuts, Codec Codec, bool Unchanged = false);

    /// <summary>Reads <c>chunk</c>, <c>cuts</c> and <c>codec</c> from the query; null with the 400's text when they
    /// are not valid.</summary>
    public static Request? Parse(IQueryCollection query, long offset, out string? problem)
    {
        problem = null;
        if (!int.TryParse(query["chunk"], NumberStyles.None, CultureInfo.InvariantCulture, out int chunk) || chunk < 4096 || chunk > ChunkFrame.MaxRawSize)
        {
            problem = $"chunk must be the repository's chunk size in bytes, from 4096 to {ChunkFrame.MaxRawSize}.";
            return null;
        }
        if (ChunkLayout.ParseCuts(query["cuts"]) is not { } cuts)
        {
            problem = $"cuts must be at most {ChunkLayout.MaxCuts} comma-separated byte offsets.";
            return null;
        }
        string codecName = query["codec"].ToString();
        Codec? codec = codecName == "none" ? Codec.None : null;
        if (codecName.StartsWith("zstd-", StringComparison.Ordinal) && int.TryParse(codecName.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int level) && level is >= 1 and <= 19)
        {
            codec = Codec.Default(level);
            if (!codec.Name.StartsWith("zstd", StringComparison.Ordinal))
            {
                problem = "This server has no zstd library (Debian: libzstd1): ask for codec=none, or compress in the program.";
                return null;
            }
        }
        if (codec is null)
        {
            problem = $"codec '{codecName}' is not one of none, zstd-1 to zstd-19.";
            return null;
        }
        string unchanged = query["unchanged"].ToString();
        if (unchanged is not ("" or "0" or "1"))
        {
            problem = "unchanged must be 1 (chunks of pages unchanged since the page base may be passed over) or 0.";
            return null;
        }
        return new Request(offset, chunk, cuts, codec, unchanged == "1");
    }

    /// <summary>Sends <paramref name="source"/> (the range of the file that starts at the request's offset) as chunk
    /// frames. <paramref name="sent"/> is told the bytes of every read (a mebibyte at most, as the raw stream reads):
    /// progress, the session's lease and the pacing move as finely as they do for a raw stream, not a chunk at a time
    /// (a console saw a backup's progress jump by 8 MiB and end; writers met 8 MiB bursts); <c>passed</c> is told the bytes
    /// of chunks passed over unread (<see cref="Request.Unchanged"/>). The response starts once
    /// the first chunk was read and checked, so a page that fails there is still answered as a problem.</summary>
    public static async Task SendAsync(Stream source, Request request, IReadOnlySet<ContentHash> known, HttpResponse response, BackgroundPriority reads, Func<int, Task> sent, Action<int> passed, CancellationToken ct)
    {
        var body = response.BodyWriter;
        var raw = ArrayPool<byte>.Shared.Rent(request.ChunkSize);
        var unchanged = request.Unchanged ? source as IUnchangedPages : null;
        try
        {
            long end = request.Offset + source.Length;
            for (long at = request.Offset; at < end;)
            {
                int n = ChunkLayout.Length(at, end, request.ChunkSize, request.Cuts);
                if (unchanged is not null && unchanged.NextUnchanged(n))
                {
                    // Nothing read, hashed or compressed: the program names the chunk from its base set. (Where the
                    // reads run, so a failure, an aborted backup say, is the session's as a read's is.)
                    await BackupEndpoints.ReadSourceAsync(reads, () => { unchanged.SkipUnchanged(n); return n; }, ct).ConfigureAwait(false);
                    passed(n);
                    if (!response.HasStarted)
                    {
                        await response.StartAsync(ct).ConfigureAwait(false);
                    }
                    new ChunkFrame(ChunkFrameKind.Unchanged, request.Codec.StoresRaw ? WireCodec.None : WireCodec.Zstd, n, 0, 0, NoHash).Write(body.GetSpan(ChunkFrame.HeaderSize));
                    body.Advance(ChunkFrame.HeaderSize);
                    at += n;
                    continue;
                }
                for (int filled = 0; filled < n;)
                {
                    int want = Math.Min(ReadSize, n - filled);
                    int read = await BackupEndpoints.ReadSourceAsync(reads, () => source.Read(raw.AsSpan(filled, want)), ct).ConfigureAwait(false);
                    if (read == 0)
                    {
                        throw new BackupEndpoints.SourceReadException(new IOException($"the stream ended {n - filled} bytes short of its announced length"));
                    }
                    filled += read;
                    await sent(read).ConfigureAwait(false);
                }
                if (!response.HasStarted)
                {
                    // Bytes written before the headers are buffered by Kestrel and copied again at the first flush:
                    // a second copy of every payload, since a part of an image is often one chunk (8 MiB).
                    await response.StartAsync(ct).ConfigureAwait(false);
                }
                // The frame is encoded straight into the response's memory (one contiguous block, from the array pool
                // at this size), not into a buffer of its own and then copied into the pipe: that copy was most of the
                // 12% of a backup's server CPU that went to HTTP framing.
                var memory = body.GetMemory(ChunkFrame.HeaderSize + request.Codec.MaxStoredSize(n));
                int length = await BackupEndpoints.ReadSourceAsync(reads, () => Encode(raw.AsSpan(0, n), memory.Span, request.Codec, known), ct).ConfigureAwait(false);
                body.Advance(length);
                var flushed = await body.FlushAsync(ct).ConfigureAwait(false);
                if (flushed.IsCanceled || flushed.IsCompleted)
                {
                    throw new IOException("the response stream ended");
                }
                at += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    /// <summary>Hashes a chunk (its pages were checked as they were read) and, unless the program holds it, compresses
    /// it: the frame's header and payload written into <paramref name="destination"/>; returns their length.</summary>
    private static int Encode(ReadOnlySpan<byte> raw, Span<byte> destination, Codec codec, IReadOnlySet<ContentHash> known)
    {
        var hash = SHA256.HashData(raw);
        var wire = codec.StoresRaw ? WireCodec.None : WireCodec.Zstd;
        if (known.Contains(ContentHash.Of(hash)))
        {
            new ChunkFrame(ChunkFrameKind.Known, wire, raw.Length, 0, 0, hash).Write(destination);
            return ChunkFrame.HeaderSize;
        }
        var payload = destination[ChunkFrame.HeaderSize..];
        int size = codec.Compress(raw, payload);
        new ChunkFrame(ChunkFrameKind.Data, wire, raw.Length, size, Crc32C.Compute(0, payload[..size]), hash).Write(destination);
        return ChunkFrame.HeaderSize + size;
    }
}
