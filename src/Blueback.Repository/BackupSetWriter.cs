using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Writes one backup set: each file streamed in chunks (compressed, CRC32C of the stored bytes, durable
/// before the next), the whole file hashed with SHA-256, and the manifest last, atomically. Memory holds one
/// chunk at a time whatever the file size.</summary>
public sealed class BackupSetWriter
{
    public const int DefaultChunkSize = 4 << 20;
    private readonly Repository _repository;
    private readonly Codec _codec;
    private readonly int _chunkSize;
    private readonly List<ManifestFile> _files = new();
    private bool _committed;

    internal BackupSetWriter(Repository repository, string setId, Codec codec, int chunkSize)
    {
        _repository = repository;
        SetId = setId;
        _codec = codec;
        _chunkSize = chunkSize;
    }

    public string SetId { get; }
    public string CodecName => _codec.Name;
    public long RawBytes { get; private set; }
    public long StoredBytes { get; private set; }

    /// <summary>Copies a stream into the set under <paramref name="path"/>. <paramref name="progress"/> gets the
    /// bytes read so far.</summary>
    public async Task<ManifestFile> AddFileAsync(string path, Stream source, Action<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var file = new ManifestFile { Path = path };
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(_chunkSize);
        try
        {
            for (int index = 0; ; index++)
            {
                int filled = 0;
                while (filled < _chunkSize)
                {
                    int n = await source.ReadAsync(buffer.AsMemory(filled, _chunkSize - filled), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }
                    filled += n;
                }
                if (filled == 0)
                {
                    break;
                }
                var raw = buffer.AsMemory(0, filled);
                sha.AppendData(raw.Span);
                var stored = _codec.Compress(raw.Span);
                var key = $"{Repository.SetPrefix(SetId)}/chunks/{_files.Count:D4}-{index:D6}";
                await _repository.Store.WriteAsync(key, stored, cancellationToken).ConfigureAwait(false);
                file.Chunks.Add(new ManifestChunk { Key = key, RawSize = filled, StoredSize = stored.Length, Crc32C = Crc32C(stored) });
                file.Size += filled;
                RawBytes += filled;
                StoredBytes += stored.Length;
                progress?.Invoke(file.Size);
                if (filled < _chunkSize)
                {
                    break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        file.Sha256 = Repository.Hex(sha.GetHashAndReset());
        _files.Add(file);
        return file;
    }

    /// <summary>Writes the manifest (temporary name, flush, rename): from this moment the set exists.</summary>
    public async Task CommitAsync(Manifest manifest, CancellationToken cancellationToken = default)
    {
        manifest.RepositoryId = _repository.Id;
        manifest.SetId = SetId;
        manifest.Codec = _codec.Name;
        manifest.Files = _files;
        // The checksum covers the manifest's exact bytes, which the envelope embeds unchanged.
        var raw = JsonSerializer.SerializeToUtf8Bytes(manifest, RepositoryJson.Default.Manifest);
        var sha = Repository.Hex(SHA256.HashData(raw));
        var bytes = Encoding.UTF8.GetBytes($"{{\n\"sha256\": \"{sha}\",\n\"manifest\": {Encoding.UTF8.GetString(raw)}\n}}\n");
        await _repository.Store.WriteAtomicAsync(Repository.ManifestKey(SetId), bytes, cancellationToken).ConfigureAwait(false);
        _committed = true;
    }

    /// <summary>Removes an uncommitted set's data (after a failure or a cancel). Never throws.</summary>
    public void Abandon()
    {
        if (_committed)
        {
            return;
        }
        try
        {
            _repository.Store.DeletePrefix(Repository.SetPrefix(SetId));
        }
        catch (IOException)
        {
            // Left for 'blueback repo gc': without a manifest it is not a set.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    internal static uint Crc32C(ReadOnlySpan<byte> data) => Blueback.Storage.Format.Checksum.Crc32C(0, data);
}
