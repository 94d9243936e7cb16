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
                    var length = ChunkObject.Decode(ChunkObject.IdOf(chunk.Key), stored, raw, repository.Keys, out bool inPlace, out var problem);
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
                sha.AppendData(raw);
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
            else if (!string.Equals(BackupRepository.Hex(sha.GetHashAndReset()), file.Sha256, StringComparison.Ordinal))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: SHA-256 mismatch over the whole file");
            }
        }
        return problems;
    }

    /// <summary>Writes a set's file, reassembled and checked chunk by chunk (CRC32C of each stored chunk, then the
    /// size and SHA-256 of the whole file), to <paramref name="destination"/>. Three things overlap, which is what
    /// makes a restore run near the disk's rate on two cores: the next chunks are read, checked and decompressed
    /// while the current one is hashed and, at the same time, written. At most <see cref="ExtractDepth"/> chunks
    /// are in memory at once.</summary>
    public static async Task ExtractAsync(BackupRepository repository, Manifest manifest, ManifestFile file, Stream destination, CancellationToken cancellationToken = default, Action<long>? progress = null)
    {
        var codec = Codec.ByName(manifest.Codec);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var chunks = System.Threading.Channels.Channel.CreateBounded<(ChunkBuffer Raw, int Length)>(new System.Threading.Channels.BoundedChannelOptions(ExtractDepth) { SingleReader = true, SingleWriter = true });
        var reader = Task.Run(() => ReadChunksAsync(repository, manifest, file, codec, chunks.Writer, cts.Token), CancellationToken.None);
        long written = 0;
        try
        {
            await foreach (var (raw, length) in chunks.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                try
                {
                    var hashing = Task.Run(() => sha.AppendData(raw.Span[..length]), CancellationToken.None);
                    try
                    {
                        await destination.WriteAsync(raw.Memory[..length], cts.Token).ConfigureAwait(false);
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
                written += length;
                progress?.Invoke(written);
            }
            await reader.ConfigureAwait(false); // its failure (a damaged chunk) is the one to report
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            try
            {
                await reader.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or RepositoryException or IOException or InvalidDataException or System.Threading.Channels.ChannelClosedException)
            {
                // Already reported above, or moot because the write side failed first.
            }
            while (chunks.Reader.TryRead(out var left))
            {
                ChunkBufferPool.Return(left.Raw);
            }
        }
        var hash = BackupRepository.Hex(sha.GetHashAndReset());
        if (written != file.Size || !string.Equals(hash, file.Sha256, StringComparison.Ordinal))
        {
            throw new RepositoryException($"set {manifest.SetId}, file {file.Path}: reassembled {written} bytes with SHA-256 {hash}, but the manifest says {file.Size} bytes with {file.Sha256}. The set is damaged; restore from another set.");
        }
    }

    private static RepositoryException Damaged(Manifest manifest, ManifestFile file, ManifestChunk chunk, string what) =>
        new($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' is damaged ({what}). Run 'blueback verify --set {manifest.SetId}' to list every problem, and restore from another set.");

    /// <summary>How many decompressed chunks an extract holds in memory at most (besides the one being written).</summary>
    public const int ExtractDepth = 2;

    /// <summary>Reads, checks and decompresses a file's chunks in order onto <paramref name="output"/>, with up to
    /// <see cref="BackupRepository.Parallelism"/> reads in flight (an object store's latency hides behind them).</summary>
    private static async Task ReadChunksAsync(BackupRepository repository, Manifest manifest, ManifestFile file, Codec codec, System.Threading.Channels.ChannelWriter<(ChunkBuffer Raw, int Length)> output, CancellationToken ct)
    {
        var pending = new Queue<(ManifestChunk Chunk, ChunkBuffer Stored, Task<long> Read)>();
        int next = 0;
        try
        {
            while (next < file.Chunks.Count || pending.Count > 0)
            {
                while (next < file.Chunks.Count && pending.Count < Math.Max(1, repository.Parallelism))
                {
                    // Pooled, block-aligned buffers: a local store reads into them around the page cache.
                    var c = file.Chunks[next++];
                    // Format 2: a chunk's stored size is what it was when first written (by whichever set wrote it, with
                    // its codec), so the read takes room for the largest any codec makes it and the trailer tells the rest.
                    int room = manifest.FormatVersion >= 2 ? Math.Max(c.StoredSize, ChunkObject.MaxStoredSize(c.RawSize)) : c.StoredSize;
                    var buffer = ChunkBufferPool.Rent(room);
                    pending.Enqueue((c, buffer, repository.Store.ReadIntoAsync(c.Key, buffer.Memory[..room], ct)));
                }
                var (chunk, stored, read) = pending.Dequeue();
                ChunkBuffer? raw = null;
                try
                {
                    long length = await read.ConfigureAwait(false);
                    if (manifest.FormatVersion >= 2)
                    {
                        if (length > stored.Size)
                        {
                            throw Damaged(manifest, file, chunk, $"{length} bytes stored, more than a chunk of {chunk.RawSize} bytes can take");
                        }
                        raw = ChunkBufferPool.Rent(chunk.RawSize);
                        var got = ChunkObject.Decode(ChunkObject.IdOf(chunk.Key), stored.Span[..(int)length], raw.Span, repository.Keys, out bool inPlace, out var problem);
                        if (got != chunk.RawSize)
                        {
                            throw Damaged(manifest, file, chunk, problem ?? $"it holds {got} bytes, the manifest says {chunk.RawSize}");
                        }
                        if (inPlace)
                        {
                            ChunkBufferPool.Return(raw);
                            (raw, stored) = (stored, null!); // the content is at the start of the stored bytes: no copy
                        }
                    }
                    else if (length != chunk.StoredSize || BackupSetWriter.Crc32C(stored.Span[..chunk.StoredSize]) != chunk.Crc32C)
                    {
                        throw Damaged(manifest, file, chunk, length != chunk.StoredSize ? $"{length} bytes stored, {chunk.StoredSize} recorded" : "CRC32C mismatch");
                    }
                    else if (codec == Codec.None && chunk.StoredSize == chunk.RawSize)
                    {
                        (raw, stored) = (stored, null!); // stored as is: no copy
                    }
                    else
                    {
                        raw = ChunkBufferPool.Rent(chunk.RawSize);
                        codec.Decompress(stored.Span[..chunk.StoredSize], raw.Span[..chunk.RawSize]);
                    }
                    await output.WriteAsync((raw, chunk.RawSize), ct).ConfigureAwait(false);
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
                    await left.Read.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or RepositoryException or UnauthorizedAccessException)
                {
                    // The failure that matters was already reported.
                }
                ChunkBufferPool.Return(left.Stored);
            }
        }
    }
}
