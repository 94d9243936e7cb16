namespace Blueback.Server.Browsing;

/// <summary>Things costly to open (mounted backup sets) kept open between requests: at most <c>maxOpen</c> at once, the
/// least recently used retired first when another opens; each closed once unused for <c>idle</c>. A request holds a
/// <see cref="Lease"/> while it reads: a retired entry closes when its last lease ends, never under a reader. Opening
/// runs once per key however many requests want it at the same moment.</summary>
internal sealed class OpenMounts<TKey, TValue> : IDisposable
    where TKey : notnull
    where TValue : class, IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<TKey, Entry> _entries = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeProvider _clock;
    private readonly ITimer _sweep;
    private readonly Action<TKey, Exception> _closeFailed;
    private bool _disposed;

    /// <param name="closeFailed">Told of a value whose Dispose threw (closing runs on the sweep's timer, which must not
    /// throw).</param>
    public OpenMounts(int maxOpen, TimeSpan idle, TimeProvider clock, Action<TKey, Exception> closeFailed)
    {
        _closeFailed = closeFailed;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOpen, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(idle, TimeSpan.Zero);
        MaxOpen = maxOpen;
        Idle = idle;
        _clock = clock;
        // Swept a few times per idle period (so an entry closes at most a quarter late), at least every 30 s.
        var period = TimeSpan.FromTicks(Math.Clamp(idle.Ticks / 4, TimeSpan.FromMilliseconds(200).Ticks, TimeSpan.FromSeconds(30).Ticks));
        _sweep = clock.CreateTimer(_ => CloseIdle(), null, period, period);
    }

    public int MaxOpen { get; }
    public TimeSpan Idle { get; }

    /// <summary>Entries held (open or opening); retired ones still leased are not counted.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Whether <paramref name="key"/> is held (open or opening).</summary>
    public bool Holds(TKey key)
    {
        lock (_lock)
        {
            return _entries.ContainsKey(key);
        }
    }

    /// <summary>The value of <paramref name="key"/>, opened with <paramref name="open"/> (given a token that fires at
    /// <see cref="Dispose"/>) unless it is open already. Waits for the opening at most until <paramref name="ct"/> fires;
    /// an opening that fails is forgotten (the next request tries again) and its error thrown to each waiter.</summary>
    public async Task<Lease> AcquireAsync(TKey key, Func<CancellationToken, Task<TValue>> open, CancellationToken ct)
    {
        Entry entry;
        List<Entry> retired = [];
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_entries.TryGetValue(key, out entry!) && (entry.Opening.IsFaulted || entry.Opening.IsCanceled))
            {
                _entries.Remove(key); // failed after its waiters gave up: tried again, not its old error repeated
                entry.Retired = true;
            }
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry(key, Task.Run(() => open(_stop.Token), CancellationToken.None));
                _entries[key] = entry;
                while (_entries.Count > MaxOpen)
                {
                    var oldest = _entries.Values.Where(e => e != entry).MinBy(e => e.LastUsed)!;
                    _entries.Remove(oldest.Key);
                    oldest.Retired = true;
                    if (oldest.Leases == 0)
                    {
                        retired.Add(oldest);
                    }
                }
            }
            entry.Leases++;
            entry.LastUsed = _clock.GetUtcNow();
        }
        retired.ForEach(Close);
        try
        {
            return new Lease(this, entry, await entry.Opening.WaitAsync(ct).ConfigureAwait(false));
        }
        catch
        {
            lock (_lock)
            {
                if (entry.Opening.IsFaulted || entry.Opening.IsCanceled)
                {
                    if (_entries.TryGetValue(key, out var held) && held == entry)
                    {
                        _entries.Remove(key);
                    }
                    entry.Retired = true;
                }
            }
            Release(entry);
            throw;
        }
    }

    /// <summary>Closes the entries unused for <see cref="Idle"/> or longer; returns how many.</summary>
    public int CloseIdle()
    {
        List<Entry> idle;
        lock (_lock)
        {
            if (_disposed)
            {
                return 0;
            }
            var now = _clock.GetUtcNow();
            idle = _entries.Values.Where(e => e.Leases == 0 && e.Opening.IsCompleted && now - e.LastUsed >= Idle).ToList();
            foreach (var e in idle)
            {
                _entries.Remove(e.Key);
                e.Retired = true;
            }
        }
        idle.ForEach(Close);
        return idle.Count;
    }

    /// <summary>Retires every entry whose key matches (each closes now, or when its last reader is done).</summary>
    public void Retire(Func<TKey, bool> match)
    {
        List<Entry> now = [];
        lock (_lock)
        {
            foreach (var e in _entries.Values.Where(e => match(e.Key)).ToList())
            {
                _entries.Remove(e.Key);
                e.Retired = true;
                if (e.Leases == 0)
                {
                    now.Add(e);
                }
            }
        }
        now.ForEach(Close);
    }

    private void Release(Entry entry)
    {
        bool close;
        lock (_lock)
        {
            entry.Leases--;
            entry.LastUsed = _clock.GetUtcNow();
            close = entry.Retired && entry.Leases == 0 && !_disposed;
        }
        if (close)
        {
            Close(entry);
        }
    }

    /// <summary>Disposes the value once, when it is there: an opening still running is cancelled at <see cref="Dispose"/>
    /// or left to end, and its value disposed then.</summary>
    private void Close(Entry entry)
    {
        if (Interlocked.Exchange(ref entry.Closed, 1) == 1)
        {
            return;
        }
        if (entry.Opening.IsCompletedSuccessfully)
        {
            DisposeValue(entry.Key, entry.Opening.Result);
        }
        else if (!entry.Opening.IsCompleted)
        {
            entry.Opening.ContinueWith(t => DisposeValue(entry.Key, t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }
    }

    private void DisposeValue(TKey key, TValue value)
    {
        try
        {
            value.Dispose();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _closeFailed(key, ex);
        }
    }

    /// <summary>Closes everything, leased or not (the server stops: its requests are over), and cancels openings.</summary>
    public void Dispose()
    {
        List<Entry> all;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            all = [.. _entries.Values];
            _entries.Clear();
        }
        _sweep.Dispose();
        _stop.Cancel();
        all.ForEach(Close);
        _stop.Dispose();
    }

    internal sealed class Entry(TKey key, Task<TValue> opening)
    {
        public TKey Key { get; } = key;
        public Task<TValue> Opening { get; } = opening;
        public int Leases { get; set; }
        public DateTimeOffset LastUsed { get; set; }
        public bool Retired { get; set; }
        public int Closed;
    }

    /// <summary>A request's hold on an open value; disposing it ends the hold.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly OpenMounts<TKey, TValue> _owner;
        private readonly Entry _entry;
        private int _released;

        internal Lease(OpenMounts<TKey, TValue> owner, Entry entry, TValue value)
        {
            _owner = owner;
            _entry = entry;
            Value = value;
        }

        public TValue Value { get; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                _owner.Release(_entry);
            }
        }
    }
}
