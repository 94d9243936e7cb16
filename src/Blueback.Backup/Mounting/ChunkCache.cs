using System.Security.Cryptography;
using System.Text;

namespace Blueback.Backup.Mounting;

/// <summary>What a mount fetched and found: bytes and chunks read from the repository, reads the cache answered.</summary>
public sealed class MountCounters
{
    private long _bytesFetched;
    private long _chunksFetched;
    private long _cacheHits;
    private long _evicted;

    /// <summary>Stored bytes read from the repository (compressed as stored).</summary>
    public long BytesFetched => Interlocked.Read(ref _bytesFetched);
    public long ChunksFetched => Interlocked.Read(ref _chunksFetched);
    public long CacheHits => Interlocked.Read(ref _cacheHits);
    public long ChunksEvicted => Interlocked.Read(ref _evicted);

    internal void Fetched(long storedBytes)
    {
        Interlocked.Add(ref _bytesFetched, storedBytes);
        Interlocked.Increment(ref _chunksFetched);
    }

    internal void Hit() => Interlocked.Increment(ref _cacheHits);

    internal void Evicted() => Interlocked.Increment(ref _evicted);

    public override string ToString() => $"{ChunksFetched} chunk(s) fetched ({BytesFetched} bytes from the repository), {CacheHits} cache hit(s), {ChunksEvicted} evicted";
}

/// <summary>Checked chunk contents on disk, bounded in bytes, least recently used out first. A chunk is fetched once
/// however many readers want it at the same moment; a read opens the cached file under the lock and reads it after,
/// so an eviction meanwhile (which unlinks the file) does not disturb it.</summary>
public sealed class ChunkCache : IDisposable
{
    /// <summary>The smallest bound: two chunks of the default size, so that a read spanning a chunk boundary is held.</summary>
    public const long MinBytes = 16L << 20;

    private readonly Lock _lock = new();
    private readonly LinkedList<Entry> _lru = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _fetching = new(StringComparer.Ordinal);
    private readonly string _directory;
    private readonly TimeSpan _fetchTimeout;
    private readonly CancellationTokenSource _stop = new();
    private long _bytes;
    private bool _disposed;

    public ChunkCache(string directory, long maxBytes, MountCounters counters, TimeSpan? fetchTimeout = null)
    {
        if (maxBytes < MinBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBytes), $"A mount's chunk cache of {maxBytes} bytes is too small: give --cache-max-bytes at least {MinBytes} (16M).");
        }
        _directory = Directory.CreateDirectory(directory).FullName;
        MaxBytes = maxBytes;
        Counters = counters;
        _fetchTimeout = fetchTimeout ?? TimeSpan.FromMinutes(2);
    }

    public long MaxBytes { get; }
    public MountCounters Counters { get; }

    /// <summary>Bytes of chunk content held on disk now.</summary>
    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Reads <c>into.Length</c> bytes at <paramref name="offset"/> of the chunk <paramref name="key"/>, fetching
    /// it with <paramref name="fetch"/> (content and stored bytes read) when it is not cached. Blocks the caller (the
    /// engine reads pages synchronously) for at most the fetch bound.</summary>
    public void Read(string key, int offset, Span<byte> into, Func<CancellationToken, Task<(byte[] Content, long StoredBytes)>> fetch)
    {
        bool waited = false;
        while (true)
        {
            Task? pending = null;
            Microsoft.Win32.SafeHandles.SafeFileHandle? handle = null;
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_entries.TryGetValue(key, out var node))
                {
                    _lru.Remove(node);
                    _lru.AddFirst(node);
                    handle = File.OpenHandle(node.Value.Path); // opened here, eviction cannot unlink it first
                    if (!waited)
                    {
                        Counters.Hit();
                    }
                }
                else if (!_fetching.TryGetValue(key, out pending))
                {
                    pending = Task.Run(() => FetchAsync(key, fetch), CancellationToken.None);
                    _fetching[key] = pending;
                }
            }
            if (handle is not null)
            {
                using (handle)
                {
                    ReadAll(handle, offset, into);
                }
                return;
            }
            try
            {
                pending!.Wait(_fetchTimeout); // bounded: the fetch itself is cancelled at the same bound
            }
            catch (AggregateException ex) when (ex.InnerException is { } inner)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(inner).Throw();
            }
            if (!pending!.IsCompleted)
            {
                throw new TimeoutException($"Fetching chunk '{key}' from the repository took longer than {_fetchTimeout.TotalSeconds:0} s. Check that the repository is reachable, then read again.");
            }
            waited = true; // cached now (or already evicted again by other fetches: then fetched once more)
        }
    }

    private static void ReadAll(Microsoft.Win32.SafeHandles.SafeFileHandle handle, int offset, Span<byte> into)
    {
        int total = 0;
        while (total < into.Length)
        {
            int n = RandomAccess.Read(handle, into[total..], offset + total);
            if (n == 0)
            {
                throw new IOException($"A cached chunk is shorter than expected (read {offset + total} bytes): the cache directory was changed by another program. Mount again.");
            }
            total += n;
        }
    }

    private async Task FetchAsync(string key, Func<CancellationToken, Task<(byte[] Content, long StoredBytes)>> fetch)
    {
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            bound.CancelAfter(_fetchTimeout);
            var (content, stored) = await fetch(bound.Token).ConfigureAwait(false);
            Counters.Fetched(stored);
            var path = Path.Combine(_directory, FileName(key));
            var temp = path + ".part";
            await File.WriteAllBytesAsync(temp, content, bound.Token).ConfigureAwait(false);
            File.Move(temp, path, overwrite: true);
            lock (_lock)
            {
                _entries[key] = _lru.AddFirst(new Entry(key, path, content.Length));
                _bytes += content.Length;
                // The newest entry stays even alone over the bound: the read that fetched it needs it.
                while (_bytes > MaxBytes && _lru.Last is { } last && last != _lru.First)
                {
                    _lru.RemoveLast();
                    _entries.Remove(last.Value.Key);
                    _bytes -= last.Value.Size;
                    File.Delete(last.Value.Path);
                    Counters.Evicted();
                }
            }
        }
        finally
        {
            lock (_lock)
            {
                _fetching.Remove(key);
            }
        }
    }

    /// <summary>A file name for any key (format 1 keys hold slashes).</summary>
    private static string FileName(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Cancels fetches in flight (their readers get the cancellation) and forgets the entries; the files go
    /// with the mount's directory.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _stop.Cancel();
            _entries.Clear();
            _lru.Clear();
        }
        _stop.Dispose();
    }

    private sealed record Entry(string Key, string Path, long Size);
}
