using System.Security.Cryptography;
using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Reads a set's files back: every chunk's stored CRC32C, its decompression to the recorded size, and
/// each file's SHA-256. Problems are collected, each naming the set, file and chunk.</summary>
public static class SetVerifier
{
    /// <summary>Streams each file's bytes to <paramref name="inspect"/> (for page and log checks) while checking
    /// chunks and hashes. Returns the problems found; empty means the set is intact.</summary>
    public static async Task<List<string>> VerifyAsync(Repository repository, Manifest manifest, Func<ManifestFile, ReadOnlyMemory<byte>, long, List<string>, Task>? inspect = null, CancellationToken cancellationToken = default)
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
                if (!repository.Store.Exists(chunk.Key))
                {
                    problems.Add($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' is missing");
                    fileOk = false;
                    break;
                }
                var stored = await repository.Store.ReadAsync(chunk.Key, cancellationToken).ConfigureAwait(false);
                if (stored.Length != chunk.StoredSize || BackupSetWriter.Crc32C(stored) != chunk.Crc32C)
                {
                    problems.Add($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' (bytes {offset} to {offset + chunk.RawSize} of the file) is damaged: {(stored.Length != chunk.StoredSize ? $"{stored.Length} bytes stored, {chunk.StoredSize} expected" : "CRC32C mismatch")}");
                    fileOk = false;
                    break;
                }
                var raw = new byte[chunk.RawSize];
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
            else if (!string.Equals(Repository.Hex(sha.GetHashAndReset()), file.Sha256, StringComparison.Ordinal))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: SHA-256 mismatch over the whole file");
            }
        }
        return problems;
    }

    /// <summary>Writes a set's file, reassembled and checked chunk by chunk (CRC32C of each stored chunk, then the
    /// size and SHA-256 of the whole file), to <paramref name="destination"/>.</summary>
    public static async Task ExtractAsync(Repository repository, Manifest manifest, ManifestFile file, Stream destination, CancellationToken cancellationToken = default, Action<long>? progress = null)
    {
        var codec = Codec.ByName(manifest.Codec);
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        long written = 0;
        foreach (var chunk in file.Chunks)
        {
            var stored = await repository.Store.ReadAsync(chunk.Key, cancellationToken).ConfigureAwait(false);
            if (BackupSetWriter.Crc32C(stored) != chunk.Crc32C)
            {
                throw new RepositoryException($"set {manifest.SetId}, file {file.Path}: chunk '{chunk.Key}' is damaged (CRC32C mismatch). Run 'blueback verify --set {manifest.SetId}' to list every problem, and restore from another set.");
            }
            var raw = new byte[chunk.RawSize];
            codec.Decompress(stored, raw);
            sha.AppendData(raw);
            await destination.WriteAsync(raw, cancellationToken).ConfigureAwait(false);
            written += raw.Length;
            progress?.Invoke(written);
        }
        var hash = Repository.Hex(sha.GetHashAndReset());
        if (written != file.Size || !string.Equals(hash, file.Sha256, StringComparison.Ordinal))
        {
            throw new RepositoryException($"set {manifest.SetId}, file {file.Path}: reassembled {written} bytes with SHA-256 {hash}, but the manifest says {file.Size} bytes with {file.Sha256}. The set is damaged; restore from another set.");
        }
    }
}
