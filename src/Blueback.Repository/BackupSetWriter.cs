using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Writes one backup set: each file streamed in chunks (compressed, CRC32C of the stored bytes), the
/// whole file hashed with SHA-256, and the manifest last, atomically, once every chunk is durable. Up to
/// <see cref="Repository.Parallelism"/> chunk writes are in flight at once (an object store's latency hides behind
/// them); memory holds that many stored chunks plus the one being read, whatever the file size.</summary>
public sealed class BackupSetWriter
{
    public const int DefaultChunkSize = 4 << 20;
    private readonly Repository _repository;
    private readonly Codec _codec;
    private readonly int _chunkSize;
    private readonly List<ManifestFile> _files = new();
    private readonly List<Task> _writes = new();
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _abandon = new();
    private bool _committed;

    internal BackupSetWriter(Repository repository, string setId, Codec codec, int chunkSize)
    {
        _repository = repository;
        SetId = setId;
        _codec = codec;
        _chunkSize = chunkSize;
        _slots = new SemaphoreSlim(Math.Max(1, repository.Parallelism));
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
                await StartWriteAsync(key, stored, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Waits for a free slot, then starts the chunk's write; a write that failed before fails this call.</summary>
    private async Task StartWriteAsync(string key, byte[] stored, CancellationToken ct)
    {
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        if (_writes.FirstOrDefault(t => t.IsFaulted || t.IsCanceled) is { } failed)
        {
            _slots.Release();
            await failed.ConfigureAwait(false); // rethrows the first failure
        }
        _writes.RemoveAll(t => t.IsCompletedSuccessfully);
        var token = CancellationTokenSource.CreateLinkedTokenSource(ct, _abandon.Token);
        _writes.Add(Task.Run(async () =>
        {
            try
            {
                await _repository.Store.WriteAsync(key, stored, token.Token).ConfigureAwait(false);
            }
            finally
            {
                _slots.Release();
                token.Dispose();
            }
        }, CancellationToken.None));
    }

    /// <summary>Waits until every chunk written so far is durable (the first failure is thrown).</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => Task.WhenAll(_writes).WaitAsync(cancellationToken);

    /// <summary>Writes the manifest (temporary name, flush, rename) once every chunk is durable: from this moment
    /// the set exists.</summary>
    public async Task CommitAsync(Manifest manifest, CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Removes an uncommitted set's data (after a failure or a cancel), within <paramref name="bound"/>.
    /// Never throws: whatever is left has no manifest, so it is not a set, and 'blueback repo gc' removes it.</summary>
    public async Task AbandonAsync(TimeSpan bound)
    {
        if (_committed)
        {
            return;
        }
        using var cts = new CancellationTokenSource(bound);
        await _abandon.CancelAsync().ConfigureAwait(false);
        try
        {
            // Writes still in flight would recreate what the delete removes: they stop first (their token is cancelled).
            await Task.WhenAll(_writes).WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException or IOException or RepositoryException or UnauthorizedAccessException)
        {
            // Failed or cancelled writes are what is being abandoned; a write that outlives the bound is left to gc.
        }
        try
        {
            await _repository.Store.DeletePrefixAsync(Repository.SetPrefix(SetId), cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException or RepositoryException)
        {
            // Left for gc.
        }
    }

    internal static uint Crc32C(ReadOnlySpan<byte> data) => Blueback.Storage.Format.Checksum.Crc32C(0, data);
}
