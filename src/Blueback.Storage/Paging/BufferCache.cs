using Blueback.Storage.Format;
using Blueback.Storage.Transactions;

namespace Blueback.Storage.Paging;

/// <summary>The instance's page cache: committed page versions for readers at any snapshot, dirty pages
/// waiting for write-back, and a memory bound kept by CLOCK eviction.</summary>
internal sealed class BufferCache
{
    private static readonly TimeSpan LoadWait = TimeSpan.FromSeconds(30);
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Frame> _frames = new();
    private readonly List<Frame> _clock = new();
    private readonly Snapshots _snapshots;
    private readonly Func<ushort, DatabaseFile> _file;
    private readonly Action<Lsn> _flushLogTo;
    private readonly long _bound;
    private readonly long _lowWater;
    private int _hand;
    private long _bytes;
    private long _hits;
    private long _misses;

    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Called, outside the cache's lock, when a page read from disk fails its checksum: returns the repaired
    /// page or throws. Only readers of that page wait on it (bounded by the repair's own timeout).</summary>
    private readonly Func<ushort, uint, PageCorruptException, byte[]>? _repair;

    public BufferCache(long bound, Snapshots snapshots, Func<ushort, DatabaseFile> file, Action<Lsn> flushLogTo, Func<ushort, uint, PageCorruptException, byte[]>? repair = null)
    {
        _repair = repair;
        _bound = bound;
        _lowWater = bound - (bound / 16);
        _snapshots = snapshots;
        _file = file;
        _flushLogTo = flushLogTo;
    }

    /// <summary>Bytes of page versions held now.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    public long Bound => _bound;

    /// <summary>Set by the checkpointer under the log's append lock; see <see cref="Frame.LastImage"/>.</summary>
    public Lsn RedoPoint { get; set; }

    private static ulong Key(ushort db, uint page) => ((ulong)db << 32) | page;

    /// <summary>The version of a page that a reader at <paramref name="snapshot"/> sees.</summary>
    public byte[] Read(ushort db, uint page, long snapshot)
    {
        var f = GetFrame(db, page, pin: false);
        lock (_lock)
        {
            f.Referenced = true;
            for (var v = f.Latest; v is not null; v = v.Older)
            {
                if (v.Sequence <= snapshot)
                {
                    return v.Data;
                }
            }
        }
        throw new StorageException($"Internal error: no version of page {page} of database {db} for snapshot {snapshot}. Please report this.");
    }

    /// <summary>Loads and pins a page for a writer: a pinned frame stays in the cache until unpinned.</summary>
    public Frame Pin(ushort db, uint page) => GetFrame(db, page, pin: true);

    public void Unpin(Frame f)
    {
        lock (_lock)
        {
            f.Pins--;
        }
    }

    private Frame GetFrame(ushort db, uint page, bool pin)
    {
        Frame? f;
        bool load = false;
        lock (_lock)
        {
            if (!_frames.TryGetValue(Key(db, page), out f))
            {
                f = new Frame(db, page) { Loading = new ManualResetEventSlim(false) };
                _frames.Add(Key(db, page), f);
                load = true;
            }
            if (pin)
            {
                f.Pins++;
            }
        }
        if (load)
        {
            Interlocked.Increment(ref _misses);
            Load(f);
        }
        else if (f.Loading is not { } loading)
        {
            Interlocked.Increment(ref _hits);
        }
        else
        {
            if (!loading.Wait(LoadWait))
            {
                throw new StorageTimeoutException($"Reading page {page} of database {db} did not finish within {LoadWait.TotalSeconds:0} s; the disk may be stalled.");
            }
            if (f.LoadError is { } err)
            {
                throw new StorageException($"Reading page {page} failed: {err.Message}", err);
            }
        }
        return f;
    }

    private void Load(Frame f)
    {
        var file = _file(f.Database);
        var data = new byte[file.PageSize];
        var loading = f.Loading!;
        try
        {
            try
            {
                file.ReadPage(f.Page, data);
            }
            catch (PageCorruptException damage) when (_repair is not null)
            {
                data = _repair(f.Database, f.Page, damage);
            }
        }
        catch (Exception ex)
        {
            lock (_lock)
            {
                _frames.Remove(Key(f.Database, f.Page));
                f.LoadError = ex;
                f.Loading = null;
            }
            loading.Set();
            throw;
        }
        lock (_lock)
        {
            f.Latest = new PageVersion(data, 0, null);
            AddToClock(f);
            _bytes += data.Length;
            f.Loading = null;
        }
        loading.Set();
        EnsureBound();
    }

    private void AddToClock(Frame f)
    {
        f.ClockIndex = _clock.Count;
        _clock.Add(f);
    }

    private void RemoveLocked(Frame f)
    {
        _frames.Remove(Key(f.Database, f.Page));
        int i = f.ClockIndex;
        var last = _clock[^1];
        _clock[i] = last;
        last.ClockIndex = i;
        _clock.RemoveAt(_clock.Count - 1);
        f.ClockIndex = -1;
        for (var v = f.Latest; v is not null; v = v.Older)
        {
            _bytes -= v.Data.Length;
        }
    }

    /// <summary>Makes a committed transaction's pages the newest versions.</summary>
    public void Publish(IReadOnlyList<PublishedPage> pages, long sequence, Lsn commitEnd)
    {
        long oldest = _snapshots.OldestNeeded;
        lock (_lock)
        {
            foreach (var p in pages)
            {
                if (!_frames.TryGetValue(Key(p.Database, p.Page), out var f))
                {
                    f = new Frame(p.Database, p.Page);
                    _frames.Add(Key(p.Database, p.Page), f);
                    AddToClock(f);
                }
                f.Latest = new PageVersion(p.Data, sequence, f.Latest);
                _bytes += p.Data.Length;
                f.Dirty = true;
                f.FlushRequired = commitEnd;
                f.Referenced = true;
                if (p.ImageLsn != Lsn.Zero)
                {
                    f.LastImage = p.ImageLsn;
                }
                TrimLocked(f, oldest);
            }
        }
    }

    /// <summary>Whether the next change to this page must log a whole image (see <see cref="Frame.LastImage"/>).</summary>
    public bool NeedsImage(Frame f) => f.LastImage < RedoPoint || f.LastImage == Lsn.Zero;

    private void TrimLocked(Frame f, long oldestNeeded)
    {
        for (var v = f.Latest; v is not null; v = v.Older)
        {
            if (v.Sequence <= oldestNeeded)
            {
                for (var o = v.Older; o is not null; o = o.Older)
                {
                    _bytes -= o.Data.Length;
                }
                v.Older = null;
                return;
            }
        }
    }

    /// <summary>Evicts clean, unpinned, single-version pages until under the bound, writing dirty ones back
    /// first when that is what it takes.</summary>
    public void EnsureBound()
    {
        for (int round = 0; round < 4 && Interlocked.Read(ref _bytes) > _bound; round++)
        {
            List<Frame>? toWrite = null;
            long oldest = _snapshots.OldestNeeded;
            lock (_lock)
            {
                int steps = _clock.Count * 2;
                while (_bytes > _lowWater && steps-- > 0 && _clock.Count > 0)
                {
                    if (_hand >= _clock.Count)
                    {
                        _hand = 0;
                    }
                    var f = _clock[_hand];
                    if (f.Loading is not null || f.Pins > 0)
                    {
                        _hand++;
                        continue;
                    }
                    TrimLocked(f, oldest);
                    if (f.Latest!.Older is not null)
                    {
                        _hand++;
                        continue;
                    }
                    if (f.Referenced)
                    {
                        f.Referenced = false;
                        _hand++;
                        continue;
                    }
                    if (f.Dirty)
                    {
                        (toWrite ??= new()).Add(f);
                        _hand++;
                        if (toWrite.Count >= 256)
                        {
                            break;
                        }
                        continue;
                    }
                    RemoveLocked(f);
                }
            }
            if (toWrite is null)
            {
                return;
            }
            WriteBack(toWrite);
        }
    }

    /// <summary>Frames with changes not yet written to their database file.</summary>
    public List<Frame> DirtyFrames(ushort? database = null)
    {
        lock (_lock)
        {
            var list = new List<Frame>();
            foreach (var f in _clock)
            {
                if (f.Dirty && (database is null || f.Database == database))
                {
                    list.Add(f);
                }
            }
            list.Sort(static (a, b) => a.Database != b.Database ? a.Database.CompareTo(b.Database) : a.Page.CompareTo(b.Page));
            return list;
        }
    }

    /// <summary>Writes the newest version of each frame to its file, log first (write-ahead rule). The files are
    /// not flushed here; the checkpointer flushes them before it moves the checkpoint.</summary>
    public void WriteBack(List<Frame> frames)
    {
        Lsn required = Lsn.Zero;
        lock (_lock)
        {
            foreach (var f in frames)
            {
                if (f.Dirty && f.FlushRequired > required)
                {
                    required = f.FlushRequired;
                }
            }
        }
        if (required != Lsn.Zero)
        {
            _flushLogTo(required);
        }
        byte[]? buffer = null;
        foreach (var f in frames)
        {
            lock (f.WriteLock)
            {
                PageVersion v;
                Lsn req;
                lock (_lock)
                {
                    if (!f.Dirty || f.Latest is null)
                    {
                        continue;
                    }
                    v = f.Latest;
                    req = f.FlushRequired;
                }
                if (req > required)
                {
                    _flushLogTo(req);
                }
                var file = _file(f.Database);
                if (buffer is null || buffer.Length != file.PageSize)
                {
                    buffer = new byte[file.PageSize];
                }
                v.Data.CopyTo(buffer, 0);
                file.WritePage(f.Page, buffer);
                lock (_lock)
                {
                    if (f.Latest == v)
                    {
                        f.Dirty = false;
                    }
                }
            }
        }
    }

    /// <summary>Drops every frame of a database (after its pages were written back): on detach.</summary>
    public void Forget(ushort database)
    {
        lock (_lock)
        {
            foreach (var f in _clock.Where(f => f.Database == database).ToList())
            {
                RemoveLocked(f);
            }
        }
    }
}

internal readonly record struct PublishedPage(ushort Database, uint Page, byte[] Data, Lsn ImageLsn);
