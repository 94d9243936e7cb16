using Blueback.Repository.Chunks;
using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Bytes of a set's file read back from only the chunks that hold them, each checked: the chunk index is the
/// manifest's list of chunks with their sizes.</summary>
/// <param name="Data">The bytes asked for.</param>
/// <param name="Chunks">The keys of the chunks read, in order.</param>
public sealed record FileRange(byte[] Data, IReadOnlyList<string> Chunks);

/// <summary>Reads a range of a set's file without reading the rest of it (a page repair reads one page of an image).
/// Format 2: each chunk's CRC32C or AES-GCM tag, its decompression, and its content against its id (a chunk is
/// self-verifying). Format 1: each chunk's stored size and CRC32C from the manifest and its decompression; the file's
/// SHA-256, which covers the whole file, cannot be checked without reading all of it.</summary>
public static class SetRangeReader
{
    public static async Task<FileRange> ReadAsync(BackupRepository repository, Manifest manifest, ManifestFile file, long offset, int length, CancellationToken cancellationToken = default)
    {
        if (offset < 0 || length < 0 || offset + length > file.Size)
        {
            throw new RepositoryException($"set {manifest.SetId}, file {file.Path}: bytes {offset} to {offset + length} are past its end ({file.Size} bytes).");
        }
        var data = new byte[length];
        var read = new List<string>();
        long start = 0;
        foreach (var chunk in file.Chunks)
        {
            long end = start + chunk.RawSize;
            if (end > offset && start < offset + length)
            {
                var raw = await ChunkAsync(repository, manifest, file, chunk, start, cancellationToken).ConfigureAwait(false);
                long from = Math.Max(offset, start);
                long to = Math.Min(offset + length, end);
                raw.AsSpan((int)(from - start), (int)(to - from)).CopyTo(data.AsSpan((int)(from - offset)));
                read.Add(chunk.Key);
            }
            if (end >= offset + length)
            {
                break;
            }
            start = end;
        }
        return new FileRange(data, read);
    }

    /// <summary>One chunk's content, checked as its format allows.</summary>
    private static async Task<byte[]> ChunkAsync(BackupRepository repository, Manifest manifest, ManifestFile file, ManifestChunk chunk, long at, CancellationToken ct)
    {
        var stored = await repository.Store.ReadAsync(chunk.Key, ct).ConfigureAwait(false);
        if (manifest.FormatVersion >= 2)
        {
            var raw = new byte[chunk.RawSize];
            var got = ChunkObject.Decode(ChunkObject.IdOf(chunk.Key), stored, raw, repository.Keys, out bool inPlace, out var problem);
            if (got != chunk.RawSize)
            {
                throw SetVerifier.Damaged(manifest, file, chunk, $"bytes {at} to {at + chunk.RawSize} of the file: {problem ?? $"it holds {got} bytes, the manifest says {chunk.RawSize}"}");
            }
            return inPlace ? stored[..chunk.RawSize] : raw;
        }
        if (stored.Length != chunk.StoredSize || BackupSetWriter.Crc32C(stored) != chunk.Crc32C)
        {
            throw SetVerifier.Damaged(manifest, file, chunk, $"bytes {at} to {at + chunk.RawSize} of the file: {(stored.Length != chunk.StoredSize ? $"{stored.Length} bytes stored, {chunk.StoredSize} recorded" : "CRC32C mismatch")}");
        }
        var content = new byte[chunk.RawSize];
        try
        {
            Codec.ByName(manifest.Codec).Decompress(stored, content);
        }
        catch (InvalidDataException ex)
        {
            throw SetVerifier.Damaged(manifest, file, chunk, $"it does not decompress: {ex.Message}");
        }
        return content;
    }
}
