using Blueback.Storage.Format;

namespace Blueback.Storage.Transactions;

/// <summary>Which commits readers may see, and which snapshots readers hold.</summary>
/// <remarks>
/// A commit becomes visible to new readers only once it is durable (or, for a lazy commit, once everything before
/// it is), so a reader never acts on data that a crash could take back. Commits become visible in order.
/// </remarks>
internal sealed class Snapshots
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, int> _active = new();
    private readonly Queue<(long Sequence, Lsn CommitEnd, bool Lazy)> _pending = new();
    private long _visible;
    private long _oldestActive = long.MaxValue;

    public Snapshots(long visible) => _visible = visible;

    public long Register()
    {
        lock (_lock)
        {
            var s = _visible;
            _active[s] = _active.GetValueOrDefault(s) + 1;
            if (s < _oldestActive)
            {
                _oldestActive = s;
            }
            return s;
        }
    }

    /// <summary>A snapshot at a sequence the caller fixed under the log's append lock, which may not be visible yet:
    /// its reader waits for the log to be durable up to it before reading (a backup's digest at its log range's end).</summary>
    public long RegisterAt(long sequence)
    {
        lock (_lock)
        {
            _active[sequence] = _active.GetValueOrDefault(sequence) + 1;
            if (sequence < _oldestActive)
            {
                _oldestActive = sequence;
            }
            return sequence;
        }
    }

    public void Release(long snapshot)
    {
        lock (_lock)
        {
            if (!_active.TryGetValue(snapshot, out var n))
            {
                return;
            }
            if (n > 1)
            {
                _active[snapshot] = n - 1;
                return;
            }
            _active.Remove(snapshot);
            if (snapshot == _oldestActive)
            {
                _oldestActive = _active.Count == 0 ? long.MaxValue : _active.Keys.Min();
            }
        }
    }

    /// <summary>No reader needs a page version older than the newest one at or below this sequence.</summary>
    public long OldestNeeded
    {
        get
        {
            lock (_lock)
            {
                return Math.Min(_oldestActive, _visible);
            }
        }
    }

    /// <summary>Records a commit that has been appended and published to the cache.</summary>
    public void Committed(long sequence, Lsn commitEnd, bool lazy, Lsn flushed)
    {
        lock (_lock)
        {
            _pending.Enqueue((sequence, commitEnd, lazy));
            AdvanceLocked(flushed);
        }
    }

    /// <summary>Called after every log flush.</summary>
    public void Flushed(Lsn flushed)
    {
        lock (_lock)
        {
            AdvanceLocked(flushed);
        }
    }

    private void AdvanceLocked(Lsn flushed)
    {
        while (_pending.TryPeek(out var head) && (head.Lazy || head.CommitEnd <= flushed))
        {
            _pending.Dequeue();
            Volatile.Write(ref _visible, head.Sequence);
        }
    }
}
