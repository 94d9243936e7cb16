using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Blueback.IO;
using Blueback.Repository.Chain;
using Blueback.Repository.Chunks;
using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Writes one backup set: each file streamed in chunks (compressed, CRC32C of the stored bytes), the
/// whole file hashed with SHA-256, and the manifest last, atomically, once every chunk is durable. Up to
/// <see cref="BackupRepository.Parallelism"/> chunks are in flight at once (compressed on several cores; an object
/// store's latency hides behind the writes); memory holds that many raw and stored chunks, whatever the file
/// size. In a format-2 repository each chunk is named by the hash of its content and stored once for the whole
/// repository: a chunk some committed set already holds, or one this set already wrote, is not compressed or
/// written again.</summary>
public sealed partial class BackupSetWriter
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
    private long _reusedBytes;
    private bool _committed;

    /// <summary>True once the manifest is in place: the set exists, whatever happens after.</summary>
    public bool Committed => _committed;

    /// <summary>The repository's chain head once this set's entry is in it (after <see cref="CommitAsync"/>).</summary>
    public ChainHead? ChainHead { get; private set; }
    // Format 2: what committed sets already hold (id to stored size), what this set claimed to write (so that a
    // chunk repeated within the set is written once), the chunk folders written into, and the reused chunks.
    private readonly IReadOnlyDictionary<string, int> _known;
    private readonly ConcurrentDictionary<string, Task<int>> _claimed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _folders = new(StringComparer.Ordinal);
    private readonly ConcurrentBag<string> _reused = new();
    private DateTime _started = DateTime.UtcNow;
    private DateTime _pendingWritten = DateTime.MinValue;

    internal BackupSetWriter(BackupRepository repository, string setId, string prefix, Codec codec, int chunkSize, IReadOnlyDictionary<string, int>? known = null)
    {
        _repository = repository;
        SetId = setId;
        Prefix = prefix;
        _codec = codec;
        _chunkSize = chunkSize;
        _known = known ?? new Dictionary<string, int>();
        _slots = new SemaphoreSlim(Math.Max(1, repository.Parallelism));
    }

    private bool Shared => _repository.Format >= 2;

    /// <summary>Bytes of chunks reused instead of written (format 2): already in the repository, or repeated.</summary>
    public long ReusedBytes => Interlocked.Read(ref _reusedBytes);

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
    /// <param name="cuts">Offsets where a chunk must end (a database image's header pages, its trailer page): what
    /// changes at every backup is kept out of the chunks that hold pages, so those are the same bytes when their pages
    /// are, and are stored once (format 2). Chunks between cuts start on the cut, so they stay page-aligned.</param>
    public async Task<ManifestFile> AddFileAsync(string path, Stream source, Action<long>? progress = null, CancellationToken cancellationToken = default, IReadOnlyList<long>? cuts = null)
    {
        var file = new ManifestFile { Path = path };
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Task hashed = Task.CompletedTask;
        await MarkPendingAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (int index = 0; ; index++)
            {
                await TakeSlotAsync(cancellationToken).ConfigureAwait(false);
                var raw = Rent(_rawBuffers, _chunkSize + ChunkObject.TrailerSize);
                int want = ChunkLength(file.Size, cuts);
                int filled = 0;
                try
                {
                    while (filled < want)
                    {
                        int n = await source.ReadAsync(raw.Memory[filled..want], cancellationToken).ConfigureAwait(false);
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
                var chunk = new ManifestChunk { Key = Shared ? "" : $"{Prefix}/chunks/{_files.Count:D4}-{index:D6}", RawSize = filled };
                file.Chunks.Add(chunk);
                if (!Shared)
                {
                    // Format 1: the file's hash takes the chunks in order, each after the one before, off this thread.
                    // (Format 2's digest is made of the chunks' own hashes, taken in parallel with their ids.)
                    var previous = hashed;
                    hashed = Task.Run(async () =>
                    {
                        await previous.ConfigureAwait(false);
                        sha.AppendData(raw.Span[..filled]);
                    }, CancellationToken.None);
                }
                StartChunk(chunk, raw, hashed);
                file.Size += filled;
                RawBytes += filled;
                progress?.Invoke(file.Size);
                if (filled < want)
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
        if (!Shared)
        {
            file.Sha256 = BackupRepository.Hex(sha.GetHashAndReset());
        }
        _files.Add(file);
        return file;
    }

    /// <summary>How long the chunk that starts at <paramref name="offset"/> is: the chunk size, or less up to the
    /// next cut.</summary>
    private int ChunkLength(long offset, IReadOnlyList<long>? cuts)
    {
        if (cuts is not null)
        {
            foreach (var cut in cuts)
            {
                if (cut > offset && cut - offset < _chunkSize)
                {
                    return (int)(cut - offset);
                }
            }
        }
        return _chunkSize;
    }

    /// <summary>Format 2: marks the set as being written (and refreshes the mark every few minutes), so that gc keeps
    /// every chunk written since it began even before a manifest names them.</summary>
    private async Task MarkPendingAsync(CancellationToken ct)
    {
        if (Shared && DateTime.UtcNow - _pendingWritten > TimeSpan.FromMinutes(5))
        {
            // Immutable: each refresh is a new object (gc reads the newest), never a rewrite.
            await _repository.Store.WriteAtomicAsync(_repository.NewMarkKeyAt(Prefix, BackupRepository.PendingMark), BackupRepository.PendingBytes(_started), ct).ConfigureAwait(false);
            _pendingWritten = DateTime.UtcNow;
        }
    }

    /// <summary>Waits for a free place in the pipeline; a chunk that failed before fails this call.</summary>
    private async Task TakeSlotAsync(CancellationToken ct)
    {
        await MarkPendingAsync(ct).ConfigureAwait(false);
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
                if (Shared)
                {
                    stored = await WriteSharedAsync(chunk, raw, hashed, token.Token).ConfigureAwait(false);
                    return;
                }
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

    /// <summary>Format 2: names the chunk by its content and writes it unless the repository or this set already
    /// holds it. Returns the stored buffer it used (for the caller to give back), if any.</summary>
    private async Task<ChunkBuffer?> WriteSharedAsync(ManifestChunk chunk, ChunkBuffer raw, Task hashed, CancellationToken ct)
    {
        var keys = _repository.Keys;
        chunk.ContentHash = SHA256.HashData(raw.Span[..chunk.RawSize]);
        ChunkBuffer? stored = null;
        try
        {
            await StoreSharedAsync(chunk, id =>
            {
                if (_codec.StoresRaw && keys is null)
                {
                    // The trailer goes after the content, in the buffer received into: no copy. (The file's hash reads
                    // only the content.)
                    return raw.Memory[..ChunkObject.Encode(id, raw.Span[..chunk.RawSize], _codec, null, raw.Span)];
                }
                stored = Rent(_storedBuffers, ChunkObject.MaxStoredSize(_codec, _chunkSize));
                return stored.Memory[..ChunkObject.Encode(id, raw.Span[..chunk.RawSize], _codec, keys, stored.Span)];
            }, ct).ConfigureAwait(false);
            return stored;
        }
        catch
        {
            if (stored is not null)
            {
                Release(_storedBuffers, stored);
            }
            throw;
        }
    }

    /// <summary>Format 2: names a chunk by its content hash (<see cref="ManifestChunk.ContentHash"/>, set) and, unless
    /// the repository or this set already holds it, encodes it with <paramref name="encode"/> (given the id) and writes
    /// it.</summary>
    private async Task StoreSharedAsync(ManifestChunk chunk, Func<string, Memory<byte>> encode, CancellationToken ct)
    {
        var id = ChunkObject.IdFromHash(chunk.ContentHash!, _repository.Keys);
        chunk.Key = ChunkObject.Key(id);
        if (_known.TryGetValue(id, out int knownSize) || _found.TryGetValue(id, out knownSize))
        {
            chunk.StoredSize = knownSize;
            Interlocked.Add(ref _reusedBytes, chunk.RawSize);
            _reused.Add(chunk.Key);
            return;
        }
        var mine = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_claimed.TryAdd(id, mine.Task))
        {
            chunk.StoredSize = await _claimed[id].WaitAsync(ct).ConfigureAwait(false); // repeated within the set
            Interlocked.Add(ref _reusedBytes, chunk.RawSize);
            return;
        }
        try
        {
            // A chunk already in the store that no committed set named when this backup began (left by one that
            // failed, or committed since) is written again all the same: the fresh write is what keeps gc, which
            // removes only chunks older than every running backup, from removing it under this set.
            bool exists = await _repository.Store.ExistsAsync(chunk.Key, ct).ConfigureAwait(false);
            var bytes = encode(id);
            chunk.StoredSize = bytes.Length;
            Interlocked.Add(ref _storedBytes, bytes.Length);
            _folders.TryAdd(chunk.Key[..chunk.Key.LastIndexOf('/')], true);
            if (exists)
            {
                await _repository.Store.WriteAtomicAsync(chunk.Key, bytes, ct).ConfigureAwait(false);
            }
            else
            {
                await _repository.Store.WriteAsync(chunk.Key, bytes, ct).ConfigureAwait(false);
            }
            mine.SetResult(bytes.Length);
        }
        catch (Exception ex)
        {
            mine.TrySetException(ex);
            throw;
        }
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
        if (Shared)
        {
            foreach (var folder in _folders.Keys.Order(StringComparer.Ordinal))
            {
                await _repository.Store.SyncPrefixAsync(folder, cancellationToken).ConfigureAwait(false);
            }
            // The set's own directory: its entry in sets/ was never flushed (its chunks live in the shared folders), so a
            // power cut after the commit could lose the whole set, manifest and all (found by the power-cut tests).
            await _repository.Store.SyncPrefixAsync(Prefix, cancellationToken).ConfigureAwait(false);
            await CheckReusedAsync(cancellationToken).ConfigureAwait(false);
            foreach (var f in _files)
            {
                f.ChunkDigest = ChunkDigest.Of(f.Chunks.Select(c => c.ContentHash!));
                if (_repository.Keys is not null)
                {
                    foreach (var c in f.Chunks)
                    {
                        c.Hash = Convert.ToHexStringLower(c.ContentHash!);
                    }
                }
            }
        }
        else
        {
            await _repository.Store.SyncPrefixAsync($"{Prefix}/chunks", cancellationToken).ConfigureAwait(false);
        }
        manifest.FormatVersion = _repository.Format;
        // The checksum covers the manifest's exact bytes, which the envelope embeds unchanged.
        var raw = JsonSerializer.SerializeToUtf8Bytes(manifest, RepositoryJson.Default.Manifest);
        var sha = BackupRepository.Hex(SHA256.HashData(raw));
        var bytes = Encoding.UTF8.GetBytes($"{{\n\"sha256\": \"{sha}\",\n\"manifest\": {Encoding.UTF8.GetString(raw)}\n}}\n");
        var key = $"{Prefix}/manifest.json";
        var stored = _repository.Keys is { } keys ? keys.Seal(bytes, key) : bytes;
        await _repository.Store.WriteAtomicAsync(key, stored, cancellationToken).ConfigureAwait(false);
        _committed = true;
        // Every commit, a backup's set, a shipped generation or a copy, adds its chain entry here and nowhere else.
        ChainHead = await _repository.AppendChainAsync(Prefix.StartsWith(BackupRepository.ShippedRoot + "/", StringComparison.Ordinal) ? ChainKinds.Shipped : ChainKinds.Set,
            SetId, RepositoryChain.HashOf(stored), cancellationToken).ConfigureAwait(false);
        if (Shared && !_repository.IsImmutable) // immutable: the marks stay until their lock passes, and gc removes them
        {
            try
            {
                await _repository.Store.DeleteAsync(BackupRepository.PendingKey(Prefix), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or RepositoryException or OperationCanceledException)
            {
                // A committed set's leftover mark is ignored by gc (a stop here must not read as an uncommitted set).
            }
        }
    }

    /// <summary>A backup that ran for more than half the grace period checks that the chunks it reuses are still
    /// there: the sets that named them when it began may have been forgotten and collected since.</summary>
    private async Task CheckReusedAsync(CancellationToken ct)
    {
        await CheckFoundAsync(ct).ConfigureAwait(false);
        if (DateTime.UtcNow - _started < BackupRepository.DefaultGrace / 2)
        {
            return;
        }
        foreach (var key in _reused.Distinct(StringComparer.Ordinal))
        {
            if (!await _repository.Store.ExistsAsync(key, ct).ConfigureAwait(false))
            {
                throw new RepositoryException($"Set {SetId} reuses chunk '{key}', which 'repo gc' removed while this backup ran (it took longer than half the grace period, and the set that named the chunk was forgotten meanwhile). No set was written; take the backup again, and give gc a --grace longer than the longest backup.");
            }
        }
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
        var inFlight = Task.WhenAll(_writes);
        try
        {
            // A chunk being compressed or flushed does not stop at once (an fsync on a busy disk took hundreds of ms:
            // a Ctrl+C then waited for it). It is given a moment; one that outlives it is left to finish on its own,
            // and the prefix is removed again once it has (or by gc: nothing without a manifest is a set).
            await inFlight.WaitAsync(AbandonWritesBound < bound ? AbandonWritesBound : bound).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException or IOException or RepositoryException or UnauthorizedAccessException)
        {
            // Failed or cancelled writes are what is being abandoned.
        }
        if (_repository.IsImmutable)
        {
            return; // what was written is locked: gc removes it once the lock passes (no manifest: no set meanwhile)
        }
        await DeletePrefixQuietlyAsync(cts.Token).ConfigureAwait(false);
        if (!inFlight.IsCompleted)
        {
            CleanedUp = inFlight.ContinueWith(_ => DeletePrefixQuietlyAsync(CancellationToken.None), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    /// <summary>Completes once an abandoned writer's last write has ended and what it left is removed: at once, or
    /// later for a write that outlived <see cref="AbandonAsync"/>. Whoever writes the same set again (a shipped
    /// generation's retry) waits for it first: the late removal takes the whole prefix, and in format 1 the late
    /// write itself lands on the retry's chunk names.</summary>
    public Task CleanedUp { get; private set; } = Task.CompletedTask;

    /// <summary>How long an abandon waits for the chunks in flight before removing the set's prefix.</summary>
    private static readonly TimeSpan AbandonWritesBound = TimeSpan.FromMilliseconds(50);

    private async Task DeletePrefixQuietlyAsync(CancellationToken ct)
    {
        try
        {
            await _repository.Store.DeletePrefixAsync(Prefix, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException or RepositoryException)
        {
            // Left for gc.
        }
    }

    internal static uint Crc32C(ReadOnlySpan<byte> data) => IO.Crc32C.Compute(0, data);
}
