using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Blueback.IO;
using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Writes one backup set: each file streamed in chunks (compressed, CRC32C of the stored bytes), the
/// whole file hashed with SHA-256, and the manifest last, atomically, once every chunk is durable. Up to
/// <see cref="BackupRepository.Parallelism"/> chunks are in flight at once (compressed on several cores; an object
/// store's latency hides behind the writes); memory holds that many raw and stored chunks, whatever the file
/// size.</summary>
public sealed class BackupSetWriter
{
    public const int DefaultChunkSize = 8 << 20;
    private readonly BackupRepository _repository;
    private readonly Codec _codec;
    private readonly int _chunkSize;
    private readonly List<ManifestFile> _files = new();
    private readonly List<Task> _writes = new();
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _abandon = new();
    // Chunk buffers are reused: a fresh multi-megabyte array per chunk costs page faults and collections. At most
    // one per pipeline place each (the pool never holds more than were in use at once).
    private readonly ConcurrentBag<ChunkBuffer> _rawBuffers = new();
    private readonly ConcurrentBag<ChunkBuffer> _storedBuffers = new();
    private long _storedBytes;
    private bool _committed;

    internal BackupSetWriter(BackupRepository repository, string setId, string prefix, Codec codec, int chunkSize)
    {
        _repository = repository;
        SetId = setId;
        Prefix = prefix;
        _codec = codec;
        _chunkSize = chunkSize;
        _slots = new SemaphoreSlim(Math.Max(1, repository.Parallelism));
    }

    public string SetId { get; }
    /// <summary>Where the set's objects go: <c>sets/SETID</c>, or a shipped generation's place.</summary>
    public string Prefix { get; }
    public string CodecName => _codec.Name;
    public long RawBytes { get; private set; }
    public long StoredBytes => Interlocked.Read(ref _storedBytes);
    /// <summary>The repository the set goes into (its id belongs in the manifest).</summary>
    public string RepositoryId => _repository.Id;
    /// <summary>The files added so far, in order: what the manifest lists.</summary>
    public IReadOnlyList<ManifestFile> Files => _files;

    /// <summary>Copies a stream into the set under <paramref name="path"/>. <paramref name="progress"/> gets the
    /// bytes read so far. Chunks move through a pipeline: while the next one is received, earlier ones are hashed
    /// (SHA-256 of the file, in order, one chunk after another), compressed and checksummed (several at once), and
    /// written; at most <see cref="BackupRepository.Parallelism"/> chunks are in flight.</summary>
    public async Task<ManifestFile> AddFileAsync(string path, Stream source, Action<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var file = new ManifestFile { Path = path };
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Task hashed = Task.CompletedTask;
        try
        {
            for (int index = 0; ; index++)
            {
                await TakeSlotAsync(cancellationToken).ConfigureAwait(false);
                var raw = Rent(_rawBuffers, _chunkSize);
                int filled = 0;
                try
                {
                    while (filled < _chunkSize)
                    {
                        int n = await source.ReadAsync(raw.Memory[filled.._chunkSize], cancellationToken).ConfigureAwait(false);
                        if (n == 0)
                        {
                            break;
                        }
                        filled += n;
                    }
                }
                catch
                {
                    Release(_rawBuffers, raw);
                    _slots.Release();
                    throw;
                }
                if (filled == 0)
                {
                    Release(_rawBuffers, raw);
                    _slots.Release();
                    break;
                }
                var chunk = new ManifestChunk { Key = $"{Prefix}/chunks/{_files.Count:D4}-{index:D6}", RawSize = filled };
                file.Chunks.Add(chunk);
                // The file's hash takes the chunks in order, each after the one before, off this thread.
                var previous = hashed;
                hashed = Task.Run(async () =>
                {
                    await previous.ConfigureAwait(false);
                    sha.AppendData(raw.Span[..filled]);
                }, CancellationToken.None);
                StartChunk(chunk, raw, hashed);
                file.Size += filled;
                RawBytes += filled;
                progress?.Invoke(file.Size);
                if (filled < _chunkSize)
                {
                    break;
                }
            }
            await hashed.ConfigureAwait(false);
        }
        catch
        {
            await WaitQuietly(hashed).ConfigureAwait(false); // the hash in flight (a few chunks at most) still uses sha
            throw;
        }
        file.Sha256 = BackupRepository.Hex(sha.GetHashAndReset());
        _files.Add(file);
        return file;
    }

    /// <summary>Waits for a free place in the pipeline; a chunk that failed before fails this call.</summary>
    private async Task TakeSlotAsync(CancellationToken ct)
    {
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        if (_writes.FirstOrDefault(t => t.IsFaulted || t.IsCanceled) is { } failed)
        {
            _slots.Release();
            await failed.ConfigureAwait(false); // rethrows the first failure
        }
        _writes.RemoveAll(t => t.IsCompletedSuccessfully);
    }

    /// <summary>Compresses and checksums a chunk on the thread pool, then writes it; the raw buffer goes back once
    /// the file's hash has taken it too.</summary>
    private void StartChunk(ManifestChunk chunk, ChunkBuffer raw, Task hashed)
    {
        var token = CancellationTokenSource.CreateLinkedTokenSource(_abandon.Token);
        _writes.Add(Task.Run(async () =>
        {
            ChunkBuffer? stored = null;
            try
            {
                ReadOnlyMemory<byte> bytes;
                if (_codec.StoresRaw)
                {
                    bytes = raw.Memory[..chunk.RawSize];
                }
                else
                {
                    stored = Rent(_storedBuffers, _codec.MaxStoredSize(_chunkSize));
                    bytes = stored.Memory[.._codec.Compress(raw.Span[..chunk.RawSize], stored.Span)];
                }
                chunk.StoredSize = bytes.Length;
                chunk.Crc32C = Crc32C(bytes.Span);
                Interlocked.Add(ref _storedBytes, bytes.Length);
                if (stored is not null)
                {
                    await WaitQuietly(hashed).ConfigureAwait(false);
                    Release(_rawBuffers, raw);
                    raw = null!;
                }
                await _repository.Store.WriteAsync(chunk.Key, bytes, token.Token).ConfigureAwait(false);
            }
            finally
            {
                if (raw is not null)
                {
                    await WaitQuietly(hashed).ConfigureAwait(false);
                    Release(_rawBuffers, raw);
                }
                if (stored is not null)
                {
                    Release(_storedBuffers, stored);
                }
                _slots.Release();
                token.Dispose();
            }
        }, CancellationToken.None));
    }

    private static async Task WaitQuietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The hash's failure is the file's, reported by AddFileAsync; here only the buffer's lifetime matters.
        }
    }

    private static ChunkBuffer Rent(ConcurrentBag<ChunkBuffer> pool, int size) =>
        pool.TryTake(out var buffer) && buffer.Size >= size ? buffer : new ChunkBuffer(size);

    private static void Release(ConcurrentBag<ChunkBuffer> pool, ChunkBuffer buffer) => pool.Add(buffer);

    /// <summary>Waits until every chunk written so far is durable (the first failure is thrown).</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default) => Task.WhenAll(_writes).WaitAsync(cancellationToken);

    /// <summary>Writes the manifest (temporary name, flush, rename) once every chunk is durable: from this moment
    /// the set exists. The manifest is the caller's, whole: it must name this set, repository and codec, and list
    /// exactly the files written.</summary>
    public async Task CommitAsync(Manifest manifest, CancellationToken cancellationToken = default)
    {
        if (manifest.SetId != SetId || manifest.RepositoryId != _repository.Id || manifest.Codec != _codec.Name || !manifest.Files.SequenceEqual(_files))
        {
            throw new InvalidOperationException($"The manifest given for set {SetId} does not describe what was written (set id, repository, codec and files must be the writer's).");
        }
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        // Each chunk was flushed as written; its name in the directory must be durable too before the manifest.
        await _repository.Store.SyncPrefixAsync($"{Prefix}/chunks", cancellationToken).ConfigureAwait(false);
        // The checksum covers the manifest's exact bytes, which the envelope embeds unchanged.
        var raw = JsonSerializer.SerializeToUtf8Bytes(manifest, RepositoryJson.Default.Manifest);
        var sha = BackupRepository.Hex(SHA256.HashData(raw));
        var bytes = Encoding.UTF8.GetBytes($"{{\n\"sha256\": \"{sha}\",\n\"manifest\": {Encoding.UTF8.GetString(raw)}\n}}\n");
        await _repository.Store.WriteAtomicAsync($"{Prefix}/manifest.json", bytes, cancellationToken).ConfigureAwait(false);
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
            await _repository.Store.DeletePrefixAsync(Prefix, cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException or RepositoryException)
        {
            // Left for gc.
        }
    }

    internal static uint Crc32C(ReadOnlySpan<byte> data) => IO.Crc32C.Compute(0, data);
}
