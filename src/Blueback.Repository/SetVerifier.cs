using System.Security.Cryptography;
using Blueback.Repository.Chunks;
using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Reads a set's files back: every chunk's stored CRC32C, its decompression to the recorded size, and
/// each file's SHA-256. Problems are collected, each naming the set, file and chunk.</summary>
public static class SetVerifier
{
    /// <summary>Streams each file's bytes to <paramref name="inspect"/> (for page and log checks) while checking
    /// chunks and hashes. Returns the problems found; empty means the set is intact.</summary>
    public static async Task<List<string>> VerifyAsync(BackupRepository repository, Manifest manifest, Func<ManifestFile, ReadOnlyMemory<byte>, long, List<string>, Task>? inspect = null, CancellationToken cancellationToken = default)
    {
        var problems = new List<string>();
        Codec codec;
        try
        {
            codec = Codec.ByName(manifest.Codec);
        }
        catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException)
        {
            problems.Add($"set {manifest.SetId}: {ex.Message}");
            return problems;
        }
        foreach (var file in manifest.Files)
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var chunkHashes = new List<byte[]>();
            long offset = 0;
            bool fileOk = true;
            foreach (var chunk in file.Chunks)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!await repository.Store.ExistsAsync(chunk.Key, cancellationToken).ConfigureAwait(false))
                {
                    problems.Add($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' is missing");
                    fileOk = false;
                    break;
                }
                var stored = await repository.Store.ReadAsync(chunk.Key, cancellationToken).ConfigureAwait(false);
                byte[] raw;
                if (manifest.FormatVersion >= 2)
                {
                    raw = new byte[chunk.RawSize];
                    var contentHash = new byte[32];
                    var length = ChunkObject.Decode(ChunkObject.IdOf(chunk.Key), stored, raw, repository.Keys, out bool inPlace, out var problem, contentHash);
                    chunkHashes.Add(contentHash);
                    if (length != chunk.RawSize)
                    {
                        problems.Add($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' (bytes {offset} to {offset + chunk.RawSize} of the file) is damaged: {problem ?? $"it holds {length} bytes, the manifest says {chunk.RawSize}"}");
                        fileOk = false;
                        break;
                    }
                    if (inPlace)
                    {
                        raw = stored[..chunk.RawSize];
                    }
                }
                else
                {
                    if (stored.Length != chunk.StoredSize || BackupSetWriter.Crc32C(stored) != chunk.Crc32C)
                    {
                        problems.Add($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' (bytes {offset} to {offset + chunk.RawSize} of the file) is damaged: {(stored.Length != chunk.StoredSize ? $"{stored.Length} bytes stored, {chunk.StoredSize} expected" : "CRC32C mismatch")}");
                        fileOk = false;
                        break;
                    }
                    raw = new byte[chunk.RawSize];
                    try
                    {
                        codec.Decompress(stored, raw);
                    }
                    catch (InvalidDataException ex)
                    {
                        problems.Add($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' does not decompress: {ex.Message}");
                        fileOk = false;
                        break;
                    }
                }
                if (manifest.FormatVersion < 2)
                {
                    sha.AppendData(raw);
                }
                if (inspect is not null)
                {
                    await inspect(file, raw, offset, problems).ConfigureAwait(false);
                }
                offset += raw.Length;
            }
            if (!fileOk)
            {
                continue;
            }
            if (offset != file.Size)
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: {offset} bytes in its chunks, {file.Size} recorded (truncated)");
            }
            else if (!string.Equals(manifest.FormatVersion >= 2 ? ChunkDigest.Of(chunkHashes) : BackupRepository.Hex(sha.GetHashAndReset()), file.Digest, StringComparison.Ordinal))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: {(manifest.FormatVersion >= 2 ? "its chunks are not the ones its manifest's digest names" : "SHA-256 mismatch over the whole file")}");
            }
        }
        return problems;
    }

    /// <summary>Writes a set's file, reassembled and checked chunk by chunk (each stored chunk's CRC32C or tag, its
    /// content against its id, then the size and digest of the whole file), to <paramref name="destination"/>. Three
    /// things overlap, which is what makes a restore run near the disk's rate on two cores: the next chunks are read,
    /// checked and decompressed while the current one is (format 1) hashed and, at the same time, written. At most
    /// <see cref="ExtractDepth"/> chunks are in memory at once. A destination that holds an older copy
    /// (<paramref name="existing"/>, or a destination that is an <see cref="IPatchTarget"/>: a delta restore of a
    /// format-2 set) is asked for each chunk's bytes first: a chunk already there, by its hash, is neither read from
    /// the repository nor written.</summary>
    public static async Task ExtractAsync(BackupRepository repository, Manifest manifest, ManifestFile file, Stream destination, CancellationToken cancellationToken = default, Action<long>? progress = null, IPatchTarget? existing = null)
    {
        var codec = Codec.ByName(manifest.Codec);
        bool shared = manifest.FormatVersion >= 2;
        var patch = shared ? existing ?? destination as IPatchTarget : null;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var chunkHashes = new List<byte[]>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var chunks = System.Threading.Channels.Channel.CreateBounded<ExtractedChunk>(new System.Threading.Channels.BoundedChannelOptions(ExtractDepth) { SingleReader = true, SingleWriter = true });
        var reader = Task.Run(() => ReadChunksAsync(repository, manifest, file, codec, patch, chunks.Writer, cts.Token), CancellationToken.None);
        long written = 0;
        try
        {
            await foreach (var chunk in chunks.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                chunkHashes.Add(chunk.Hash);
                if (chunk.Raw is not { } raw)
                {
                    patch!.SkipExisting(chunk.Length); // already in the old copy
                }
                else
                {
                    try
                    {
                        var hashing = shared ? Task.CompletedTask : Task.Run(() => sha.AppendData(raw.Span[..chunk.Length]), CancellationToken.None);
                        try
                        {
                            await destination.WriteAsync(raw.Memory[..chunk.Length], cts.Token).ConfigureAwait(false);
                        }
                        finally
                        {
                            await hashing.ConfigureAwait(false); // the buffer goes back to the pool only once both are done with it
                        }
                    }
                    finally
                    {
                        ChunkBufferPool.Return(raw);
                    }
                }
                written += chunk.Length;
                progress?.Invoke(written);
            }
            await reader.ConfigureAwait(false); // its failure (a damaged chunk) is the one to report
        }
        finally
        {
            await StopReaderAsync(cts, reader, chunks.Reader).ConfigureAwait(false);
        }
        var digest = shared ? ChunkDigest.Of(chunkHashes) : BackupRepository.Hex(sha.GetHashAndReset());
        if (written != file.Size || !string.Equals(digest, file.Digest, StringComparison.Ordinal))
        {
            throw new RepositoryException($"set {manifest.SetId}, file {file.Path}: reassembled {written} bytes with digest {digest}, but the manifest says {file.Size} bytes with {file.Digest}. The set is damaged; restore from another set.");
        }
    }

    /// <summary>Stops the chunk reader and gives back the buffers of chunks it read that nobody took. Its failure was
    /// already reported where it mattered, or is moot because the receiving side failed first.</summary>
    private static async Task StopReaderAsync(CancellationTokenSource cts, Task reader, System.Threading.Channels.ChannelReader<ExtractedChunk> chunks)
    {
        await cts.CancelAsync().ConfigureAwait(false);
        try
        {
            await reader.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RepositoryException or IOException or InvalidDataException or System.Threading.Channels.ChannelClosedException)
        {
            // See the summary.
        }
        while (chunks.TryRead(out var left))
        {
            if (left.Raw is not null)
            {
                ChunkBufferPool.Return(left.Raw);
            }
        }
    }

    /// <summary>A chunk on its way to the destination: its content (null when the old copy already holds it), length
    /// and SHA-256; when forwarded, <see cref="Raw"/> holds the stored payload (<see cref="Payload"/> bytes, encoded
    /// with the codec <see cref="CodecId"/>) instead of the content.</summary>
    private readonly record struct ExtractedChunk(ChunkBuffer? Raw, int Length, byte[] Hash, int Payload = -1, byte CodecId = 0);

    /// <summary>A chunk as an online restore forwards it: the payload as stored (checked: CRC32C or AES-GCM tag, and
    /// opened), the codec it is encoded with (0 none, 1 zstd: <see cref="ChunkObject.CodecId"/>), the content's size
    /// and SHA-256. The receiver decompresses it and checks the content against the hash.</summary>
    public readonly record struct ForwardedChunk(ReadOnlyMemory<byte> Payload, byte CodecId, int RawSize, byte[] ContentHash);

    /// <summary>Reads a format-2 file's chunks in order, checking each as stored, and hands each to
    /// <paramref name="each"/> still encoded (zstd or raw) rather than decompressed: an online restore sends them so
    /// and the server decompresses and checks them, which saves the program a decompression and a hash per byte and
    /// the network the bytes compression saves. A chunk whose content hash the program cannot know without decoding
    /// it (an encrypted set written before manifests kept the hashes) or with a codec other than zstd is decoded and
    /// handed on raw. Checks at the end that the chunks' hashes make the file's digest.</summary>
    public static async Task ForwardAsync(BackupRepository repository, Manifest manifest, ManifestFile file, Func<ForwardedChunk, CancellationToken, ValueTask> each,
        CancellationToken cancellationToken = default, Action<long>? progress = null)
    {
        if (manifest.FormatVersion < 2 || file.ChunkDigest is null)
        {
            throw new ArgumentException($"set {manifest.SetId}, file {file.Path}: only a format-2 set's chunks can be forwarded.", nameof(file));
        }
        var codec = Codec.ByName(manifest.Codec);
        var chunkHashes = new List<byte[]>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var chunks = System.Threading.Channels.Channel.CreateBounded<ExtractedChunk>(new System.Threading.Channels.BoundedChannelOptions(ExtractDepth) { SingleReader = true, SingleWriter = true });
        var reader = Task.Run(() => ReadChunksAsync(repository, manifest, file, codec, null, chunks.Writer, cts.Token, forward: true), CancellationToken.None);
        long written = 0;
        try
        {
            await foreach (var chunk in chunks.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                try
                {
                    chunkHashes.Add(chunk.Hash);
                    int payload = chunk.Payload < 0 ? chunk.Length : chunk.Payload;
                    await each(new ForwardedChunk(chunk.Raw!.Memory[..payload], chunk.CodecId, chunk.Length, chunk.Hash), cts.Token).ConfigureAwait(false);
                }
                finally
                {
                    ChunkBufferPool.Return(chunk.Raw!);
                }
                written += chunk.Length;
                progress?.Invoke(written);
            }
            await reader.ConfigureAwait(false);
        }
        finally
        {
            await StopReaderAsync(cts, reader, chunks.Reader).ConfigureAwait(false);
        }
        var digest = ChunkDigest.Of(chunkHashes);
        if (written != file.Size || !string.Equals(digest, file.Digest, StringComparison.Ordinal))
        {
            throw new RepositoryException($"set {manifest.SetId}, file {file.Path}: its chunks make {written} bytes with digest {digest}, but the manifest says {file.Size} bytes with {file.Digest}. The set is damaged; restore from another set.");
        }
    }

    /// <summary>One chunk of a set's file, read and checked on its own (format 2: the trailer's CRC32C or AES-GCM tag,
    /// then the content against its id; format 1: the recorded CRC32C) and decompressed: what a mounted set reads
    /// when a page it needs is not cached. Also gives the stored bytes read (what crossed from the store).</summary>
    public static async Task<(byte[] Content, long StoredBytes)> ReadChunkAsync(BackupRepository repository, Manifest manifest, ManifestFile file, ManifestChunk chunk, CancellationToken cancellationToken)
    {
        var codec = Codec.ByName(manifest.Codec);
        var (stored, read) = StartRead(repository, manifest, chunk, cancellationToken);
        try
        {
            long length = await read.ConfigureAwait(false);
            var content = new byte[chunk.RawSize];
            if (manifest.FormatVersion >= 2)
            {
                if (length > stored!.Size)
                {
                    throw Damaged(manifest, file, chunk, $"{length} bytes stored, more than a chunk of {chunk.RawSize} bytes can take");
                }
                var got = ChunkObject.Decode(ChunkObject.IdOf(chunk.Key), stored.Span[..(int)length], content, repository.Keys, out bool inPlace, out var problem);
                if (got != chunk.RawSize)
                {
                    throw Damaged(manifest, file, chunk, problem ?? $"it holds {got} bytes, the manifest says {chunk.RawSize}");
                }
                if (inPlace)
                {
                    stored.Span[..chunk.RawSize].CopyTo(content);
                }
            }
            else if (length != chunk.StoredSize || BackupSetWriter.Crc32C(stored!.Span[..chunk.StoredSize]) != chunk.Crc32C)
            {
                throw Damaged(manifest, file, chunk, length != chunk.StoredSize ? $"{length} bytes stored, {chunk.StoredSize} recorded" : "CRC32C mismatch");
            }
            else
            {
                codec.Decompress(stored.Span[..chunk.StoredSize], content);
            }
            return (content, length);
        }
        finally
        {
            ChunkBufferPool.Return(stored!);
        }
    }

    /// <summary>The content hash of a chunk known without reading it: a plain repository's id is that hash; an
    /// encrypted one's manifest keeps it (sets written since chunk frames). Null where it is not known.</summary>
    private static byte[]? KnownHash(BackupRepository repository, ManifestChunk chunk)
    {
        var hex = repository.Keys is null ? ChunkObject.IdOf(chunk.Key) : chunk.Hash;
        return hex is { Length: 64 } && hex.All(char.IsAsciiHexDigitLower) ? Convert.FromHexString(hex) : null;
    }

    internal static RepositoryException Damaged(Manifest manifest, ManifestFile file, ManifestChunk chunk, string what) =>
        new($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' is damaged ({what}). Run 'blueback verify --set {manifest.SetId}' to list every problem, and restore from another set.");

    /// <summary>How many decompressed chunks an extract holds in memory at most (besides the one being written).</summary>
    public const int ExtractDepth = 2;

    /// <summary>Reads, checks and decompresses a file's chunks in order onto <paramref name="output"/>, with up to
    /// <see cref="BackupRepository.Parallelism"/> reads in flight (an object store's latency hides behind them). With
    /// a patch target, each chunk is first looked for in the old copy (hashed, several at once); only the chunks not
    /// found there are read.</summary>
    private static async Task ReadChunksAsync(BackupRepository repository, Manifest manifest, ManifestFile file, Codec codec, IPatchTarget? patch,
        System.Threading.Channels.ChannelWriter<ExtractedChunk> output, CancellationToken ct, bool forward = false)
    {
        var pending = new Queue<(ManifestChunk Chunk, ChunkBuffer? Stored, Task<long>? Read, Task<byte[]?>? Existing, Task<DecodedChunk>? Decoded)>();
        int next = 0;
        long offset = 0;
        // Looking a chunk up in the old copy costs hashing it: worth it while most chunks are found there. Once more
        // than half of those looked up were not (changes spread over every chunk), the rest are fetched and compared
        // page by page instead.
        int lookedUp = 0, found = 0;
        try
        {
            while (next < file.Chunks.Count || pending.Count > 0)
            {
                while (next < file.Chunks.Count && pending.Count < Math.Max(1, repository.Parallelism))
                {
                    var c = file.Chunks[next++];
                    if (patch is not null && (lookedUp < 8 || found * 2 >= lookedUp))
                    {
                        lookedUp++;
                        long at = offset;
                        pending.Enqueue((c, null, null, Task.Run(() => ExistingHash(repository, patch, c, at), ct), null));
                    }
                    else if (manifest.FormatVersion >= 2 && !forward)
                    {
                        pending.Enqueue((c, null, null, null, ReadAndDecodeAsync(repository, manifest, file, c, ct)));
                    }
                    else
                    {
                        var (buffer, reading) = StartRead(repository, manifest, c, ct);
                        pending.Enqueue((c, buffer, reading, null, null));
                    }
                    offset += c.RawSize;
                }
                var (chunk, stored, read, existing, decoded) = pending.Dequeue();
                if (decoded is not null)
                {
                    var (content, contentHash) = await decoded.ConfigureAwait(false);
                    try
                    {
                        await output.WriteAsync(new ExtractedChunk(content, chunk.RawSize, contentHash), ct).ConfigureAwait(false);
                    }
                    catch
                    {
                        ChunkBufferPool.Return(content);
                        throw;
                    }
                    continue;
                }
                if (existing is not null && await existing.ConfigureAwait(false) is { } hash)
                {
                    found++;
                    await output.WriteAsync(new ExtractedChunk(null, chunk.RawSize, hash), ct).ConfigureAwait(false);
                    continue;
                }
                if (read is null)
                {
                    (stored, read) = StartRead(repository, manifest, chunk, ct); // differs from the old copy
                }
                ArgumentNullException.ThrowIfNull(read);
                ChunkBuffer? raw = null;
                try
                {
                    long length = await read.ConfigureAwait(false);
                    var contentHash = new byte[32];
                    if (manifest.FormatVersion >= 2 && length > stored!.Size)
                    {
                        throw Damaged(manifest, file, chunk, $"{length} bytes stored, more than a chunk of {chunk.RawSize} bytes can take");
                    }
                    if (forward && KnownHash(repository, chunk) is { } known && ChunkObject.RawSizeOf(stored!.Span[..(int)length]) == chunk.RawSize
                        && stored.Span[(int)length - ChunkObject.TrailerSize + 5] is 0 or 1) // none or zstd: what the wire carries
                    {
                        var payload = ChunkObject.Open(ChunkObject.IdOf(chunk.Key), stored.Span[..(int)length], repository.Keys, out byte codecId, out _, out var problem)
                            ?? throw Damaged(manifest, file, chunk, problem!);
                        await output.WriteAsync(new ExtractedChunk(stored, chunk.RawSize, known, payload, codecId), ct).ConfigureAwait(false);
                        stored = null; // the receiving side owns it now
                        continue;
                    }
                    if (manifest.FormatVersion >= 2)
                    {
                        var owned = stored!;
                        stored = null; // Decode takes the stored bytes, also when it throws
                        raw = Decode(repository, manifest, file, chunk, owned, length, contentHash);
                    }
                    else if (length != chunk.StoredSize || BackupSetWriter.Crc32C(stored!.Span[..chunk.StoredSize]) != chunk.Crc32C)
                    {
                        throw Damaged(manifest, file, chunk, length != chunk.StoredSize ? $"{length} bytes stored, {chunk.StoredSize} recorded" : "CRC32C mismatch");
                    }
                    else if (codec == Codec.None && chunk.StoredSize == chunk.RawSize)
                    {
                        (raw, stored) = (stored, null); // stored as is: no copy
                    }
                    else
                    {
                        raw = ChunkBufferPool.Rent(chunk.RawSize);
                        codec.Decompress(stored.Span[..chunk.StoredSize], raw.Span[..chunk.RawSize]);
                    }
                    await output.WriteAsync(new ExtractedChunk(raw, chunk.RawSize, contentHash), ct).ConfigureAwait(false);
                    raw = null; // the writer side owns it now
                }
                finally
                {
                    if (stored is not null)
                    {
                        ChunkBufferPool.Return(stored);
                    }
                    if (raw is not null)
                    {
                        ChunkBufferPool.Return(raw);
                    }
                }
            }
            output.Complete();
        }
        catch (Exception ex)
        {
            output.TryComplete(ex);
            throw;
        }
        finally
        {
            // Reads started ahead and not consumed: let them end, then give their buffers back.
            while (pending.TryDequeue(out var left))
            {
                try
                {
                    if (left.Read is not null)
                    {
                        await left.Read.ConfigureAwait(false);
                    }
                    if (left.Existing is not null)
                    {
                        await left.Existing.ConfigureAwait(false);
                    }
                    if (left.Decoded is not null)
                    {
                        ChunkBufferPool.Return((await left.Decoded.ConfigureAwait(false)).Content);
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or RepositoryException or UnauthorizedAccessException)
                {
                    // The failure that matters was already reported.
                }
                if (left.Stored is not null)
                {
                    ChunkBufferPool.Return(left.Stored);
                }
            }
        }
    }

    /// <summary>A format-2 chunk's content, checked against its id, and the content's SHA-256.</summary>
    private readonly record struct DecodedChunk(ChunkBuffer Content, byte[] Hash);

    /// <summary>Reads a format-2 chunk and decodes it on the thread pool: up to <see cref="BackupRepository.Parallelism"/>
    /// chunks are checked at once. Decoding (the content's SHA-256 against the chunk's id, the decompression) is an
    /// extract's largest CPU cost, and done one chunk at a time in the reading loop it held an offline restore to one
    /// core while the other waited on the disk's writes.</summary>
    private static async Task<DecodedChunk> ReadAndDecodeAsync(BackupRepository repository, Manifest manifest, ManifestFile file, ManifestChunk chunk, CancellationToken ct)
    {
        var (stored, read) = StartRead(repository, manifest, chunk, ct);
        long length;
        try
        {
            length = await read.ConfigureAwait(false);
        }
        catch
        {
            ChunkBufferPool.Return(stored);
            throw;
        }
        var hash = new byte[32];
        return new DecodedChunk(Decode(repository, manifest, file, chunk, stored, length, hash), hash);
    }

    /// <summary>Checks and decodes a format-2 chunk's <paramref name="length"/> stored bytes into its content (in place
    /// when stored raw: then the stored buffer is the content), writing its SHA-256 into <paramref name="contentHash"/>.
    /// Takes <paramref name="stored"/>: it is returned to the pool or becomes the content, also when this throws.</summary>
    private static ChunkBuffer Decode(BackupRepository repository, Manifest manifest, ManifestFile file, ManifestChunk chunk, ChunkBuffer stored, long length, byte[] contentHash)
    {
        ChunkBuffer? raw = null;
        try
        {
            if (length > stored.Size)
            {
                throw Damaged(manifest, file, chunk, $"{length} bytes stored, more than a chunk of {chunk.RawSize} bytes can take");
            }
            raw = ChunkBufferPool.Rent(chunk.RawSize);
            var got = ChunkObject.Decode(ChunkObject.IdOf(chunk.Key), stored.Span[..(int)length], raw.Span, repository.Keys, out bool inPlace, out var problem, contentHash);
            if (got != chunk.RawSize)
            {
                throw Damaged(manifest, file, chunk, problem ?? $"it holds {got} bytes, the manifest says {chunk.RawSize}");
            }
            if (inPlace)
            {
                (raw, stored) = (stored, raw); // the content is at the start of the stored bytes: no copy
            }
            var content = raw;
            raw = null;
            return content;
        }
        finally
        {
            ChunkBufferPool.Return(stored);
            if (raw is not null)
            {
                ChunkBufferPool.Return(raw);
            }
        }
    }

    /// <summary>Starts reading a chunk into a pooled, block-aligned buffer (a local store reads into it around the page cache).</summary>
    private static (ChunkBuffer Stored, Task<long> Read) StartRead(BackupRepository repository, Manifest manifest, ManifestChunk c, CancellationToken ct)
    {
        // Format 2: a chunk's stored size is what it was when first written (by whichever set wrote it, with its
        // codec), so the read takes room for the largest any codec makes it and the trailer tells the rest.
        int room = manifest.FormatVersion >= 2 ? Math.Max(c.StoredSize, ChunkObject.MaxStoredSize(c.RawSize)) : c.StoredSize;
        var buffer = ChunkBufferPool.Rent(room);
        return (buffer, repository.Store.ReadIntoAsync(c.Key, buffer.Memory[..room], ct));
    }

    /// <summary>The SHA-256 of the old copy's bytes where the chunk goes, if they are the chunk's (by its id); null
    /// when they differ or are not there.</summary>
    private static byte[]? ExistingHash(BackupRepository repository, IPatchTarget patch, ManifestChunk chunk, long offset)
    {
        var buffer = ChunkBufferPool.Rent(chunk.RawSize);
        try
        {
            try
            {
                if (!patch.TryReadExisting(offset, buffer.Span[..chunk.RawSize]))
                {
                    return null;
                }
            }
            catch (IOException)
            {
                return null; // an unreadable place in the old copy is fetched like one that differs
            }
            var hash = SHA256.HashData(buffer.Span[..chunk.RawSize]);
            return ChunkObject.IdFromHash(hash, repository.Keys) == ChunkObject.IdOf(chunk.Key) ? hash : null;
        }
        finally
        {
            ChunkBufferPool.Return(buffer);
        }
    }
}
