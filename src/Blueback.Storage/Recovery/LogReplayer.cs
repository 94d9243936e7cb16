using System.Buffers.Binary;
using System.Text;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Recovery;

/// <summary>Redo: replays committed transactions from a start position to the end of the log, applying each page
/// record only to a page older than the record (so replay is idempotent), and skipping a torn-off, uncommitted tail.</summary>
internal sealed class LogReplayer
{
    private readonly string _logDirectory;
    private readonly Signature _logSignature;
    private readonly Func<ushort, Signature, string, DatabaseFile?> _attach;
    private readonly long _memoryBound;
    private readonly Dictionary<ushort, (DatabaseFile File, Signature Signature)> _databases = new();
    private readonly Dictionary<ulong, ArraySegment<byte>> _pages = new();
    private readonly PageArena _arena = new();
    private readonly HashSet<ulong> _torn = new();
    private readonly List<LogRecord> _txn = new();

    public LogReplayer(string logDirectory, Signature logSignature, IEnumerable<(ushort Id, DatabaseFile File, Signature Signature)> databases,
        Func<ushort, Signature, string, DatabaseFile?> attach, long memoryBound)
    {
        _logDirectory = logDirectory;
        _logSignature = logSignature;
        _attach = attach;
        _memoryBound = memoryBound;
        foreach (var d in databases)
        {
            _databases[d.Id] = (d.File, d.Signature);
        }
    }

    /// <summary>Hard recovery's bounds (stop point, last generation, where a break is tolerated); null for soft
    /// recovery, which replays to the end and treats every break as an error.</summary>
    public ReplayLimits? Limits { get; init; }
    /// <summary>Whether flushed pages are made durable at once (recovery: yes; a standby's apply between its
    /// restart points: no, a crash replays from the last durable restart point anyway).</summary>
    public bool SyncOnFlush { get; init; } = true;
    /// <summary>True when replay ended at the stop point (a commit past it was found and left out).</summary>
    public bool StopReached { get; private set; }
    /// <summary>When <see cref="StopReached"/>: the commit time of the first transaction left out.</summary>
    public DateTime? HeldCommitTime { get; private set; }
    /// <summary>Why replay ended before the end of the log, when it did (a break tolerated by "up to what is
    /// contiguous", or the last generation asked for).</summary>
    public string? EndReason { get; private set; }
    public Lsn LastCommitEnd { get; private set; }
    public DateTime LastCommitTime { get; private set; }
    public long TransactionsReplayed { get; private set; }
    public long RecordsApplied { get; private set; }
    public HashSet<ushort> Touched { get; } = new();
    /// <summary>Databases attached or detached by replayed records, by id (null: detached).</summary>
    public Dictionary<ushort, (DatabaseFile File, Signature Signature)?> AttachChanges { get; } = new();

    /// <summary>Replays from <paramref name="start"/> and writes the replayed pages. Returns where the complete,
    /// committed log ends: everything after it is a torn or uncommitted tail.</summary>
    public Lsn Replay(Lsn start)
    {
        var prefetch = new ReplayPrefetcher(_logDirectory, start, _databases.Select(d => (d.Key, d.Value.File)));
        _prefetch = prefetch;
        try
        {
            return ReplayFrom(start);
        }
        finally
        {
            _prefetch = null;
            prefetch.Dispose();
            BlocksPrefetched += prefetch.BlocksAsked;
        }
    }

    /// <summary>Blocks of database pages the prefetcher asked the kernel to read ahead (tests, diagnostics).</summary>
    public long BlocksPrefetched { get; private set; }

    private ReplayPrefetcher? _prefetch;
    private Lsn _safeEnd;

    /// <summary>The last position replay reached with no transaction open: where a later replay of more log (a
    /// standby's next generations) must resume. At the end of the log it can be before <see cref="Replay"/>'s
    /// result, when a transaction's first records end the last generation present and its commit is still to come.</summary>
    public Lsn SafeEnd => _safeEnd;

    private Lsn ReplayFrom(Lsn start)
    {
        var onDisk = LogFiles.List(_logDirectory);
        uint lastOnDisk = onDisk.Count == 0 ? 0 : onDisk[^1];
        _safeEnd = start;
        LogFileHeader? previous = null;
        for (uint g = start.Generation; ; g++)
        {
            Limits?.CancellationToken.ThrowIfCancellationRequested();
            if (Limits?.LastGeneration is { } last && g > last)
            {
                EndReason = $"play-forward was not asked for: replay stopped at the end of generation {last}, the set's last";
                FlushPages();
                return new Lsn(g, LogFileHeader.RegionSize);
            }
            if (!File.Exists(LogFiles.PathOf(_logDirectory, g)))
            {
                if (g <= lastOnDisk && Tolerated(g))
                {
                    EndReason = $"generation {g} is missing (later ones exist): replay stopped at the last contiguous generation, {g - 1}";
                    FlushPages();
                    return new Lsn(g, LogFileHeader.RegionSize);
                }
                if (g == start.Generation && start.Offset == LogFileHeader.RegionSize && g > lastOnDisk)
                {
                    // The checkpoint is at the start of a generation that was never created: nothing to replay.
                    return start;
                }
                if (g == start.Generation)
                {
                    throw new LogCorruptException($"Log generation {g}, where recovery must start (the checkpoint is at {start}), is missing from '{_logDirectory}'. Restore it from a backup.", g);
                }
                if (g <= lastOnDisk)
                {
                    throw new LogCorruptException($"Log generation {g} is missing from '{_logDirectory}' but later generations exist (up to {lastOnDisk}): the log has a gap. Restore generation {g} from a backup.", g);
                }
                // The previous generation ended cleanly and the next one was never created: the log ends here.
                FlushPages();
                return new Lsn(g, LogFileHeader.RegionSize);
            }
            var reader = LogGenerationReader.Open(_logDirectory, g);
            var h = reader.Header;
            bool foreign = h.LogSignature != _logSignature;
            bool broken = !foreign && previous is not null && h.PreviousCreatedTicks != previous.Value.CreatedTicks;
            if ((foreign || broken) && Tolerated(g))
            {
                EndReason = $"generation {g} ('{reader.Path}') {(foreign ? "belongs to another log stream" : "does not follow the one before it")}: replay stopped at the last contiguous generation, {g - 1}";
                FlushPages();
                return new Lsn(g, LogFileHeader.RegionSize);
            }
            if (foreign)
            {
                throw new LogCorruptException($"Log generation {g} ('{reader.Path}') belongs to another log stream (signature {h.LogSignature}, expected {_logSignature}). It was copied in from another instance; remove it and restore the right one.", g);
            }
            if (previous is not null && h.PreviousCreatedTicks != previous.Value.CreatedTicks)
            {
                throw new LogCorruptException($"Log generation {g} ('{reader.Path}') does not follow generation {g - 1}: it says its predecessor was created at {new DateTime(h.PreviousCreatedTicks, DateTimeKind.Utc):O}, but generation {g - 1} was created at {new DateTime(previous.Value.CreatedTicks, DateTimeKind.Utc):O}. The log is not contiguous; restore the matching generations.", g);
            }
            previous = h;
            var pos = g == start.Generation ? start.Offset : (uint)LogFileHeader.RegionSize;
            while (reader.TryRead(out var rec))
            {
                if (rec.Lsn.Offset < pos)
                {
                    continue;
                }
                _prefetch?.ReplayAt(rec.Lsn);
                if (rec.Type == LogRecordType.Commit && PastStop(rec))
                {
                    _txn.Clear(); // the first transaction past the stop point is left out, with all after it
                    StopReached = true;
                    HeldCommitTime = CommitTime(rec);
                    FlushPages();
                    return _safeEnd;
                }
                if (Handle(rec))
                {
                    _safeEnd = rec.End;
                }
            }
            switch (reader.End)
            {
                case LogEnd.GenerationEnd:
                    if (_txn.Count == 0)
                    {
                        // Nothing pending: the next record would go into the next generation.
                        _safeEnd = new Lsn(g + 1, LogFileHeader.RegionSize);
                    }
                    continue;
                case LogEnd.Damaged:
                    throw new LogCorruptException($"Log generation {g} ('{reader.Path}') is damaged at offset {reader.EndPosition.Offset}: records that were flushed later follow the damaged one, so this is not the torn end of a crash. Restore generation {g} from a backup.", g, reader.EndPosition.Offset);
                case LogEnd.TornTail:
                    if (g < lastOnDisk && HasRecords(g + 1))
                    {
                        throw new LogCorruptException($"Log generation {g} ('{reader.Path}') ends without its end record at offset {reader.EndPosition.Offset}, yet generation {g + 1} holds records: generation {g} is damaged. Restore it from a backup.", g, reader.EndPosition.Offset);
                    }
                    _txn.Clear(); // an uncommitted transaction torn off by the crash
                    FlushPages();
                    return _safeEnd;
            }
        }
    }

    /// <summary>A break in the log beyond what the restored set needs ends play-forward instead of failing, when
    /// the operator asked for "up to what is contiguous".</summary>
    private bool Tolerated(uint generation) => Limits is { UpToContiguous: true } l && generation > l.RequiredThrough;

    private bool PastStop(LogRecord commit)
    {
        if (Limits is not { } l || commit.Lsn.Generation <= l.StopNotThrough)
        {
            return false;
        }
        if (l.StopLsn is { } lsn && commit.End > lsn)
        {
            return true;
        }
        return l.StopTime is { } time && CommitTime(commit) > time;
    }

    internal static DateTime CommitTime(LogRecord commit) =>
        commit.Payload.Length >= 16 ? new DateTime(BinaryPrimitives.ReadInt64LittleEndian(commit.Payload.Span[8..]), DateTimeKind.Utc) : DateTime.MinValue;

    private bool HasRecords(uint generation)
    {
        try
        {
            var r = LogGenerationReader.Open(_logDirectory, generation);
            return r.TryRead(out _) || r.End == LogEnd.GenerationEnd;
        }
        catch (LogCorruptException)
        {
            return false;
        }
    }

    /// <summary>Returns true when the record leaves no transaction open (a safe place for the log to end).</summary>
    private bool Handle(LogRecord rec)
    {
        switch (rec.Type)
        {
            case LogRecordType.PageImage:
            case LogRecordType.PageDelta:
                _txn.Add(rec);
                return false;
            case LogRecordType.Commit:
                foreach (var r in _txn)
                {
                    Apply(r);
                }
                _txn.Clear();
                TransactionsReplayed++;
                LastCommitEnd = rec.End;
                LastCommitTime = CommitTime(rec);
                if (_arena.Bytes > _memoryBound)
                {
                    FlushPages();
                }
                return true;
            case LogRecordType.Attach:
            {
                var p = rec.Payload.Span;
                var sig = System.Runtime.InteropServices.MemoryMarshal.Read<Signature>(p);
                int len = BinaryPrimitives.ReadUInt16LittleEndian(p[Signature.SizeOf..]);
                var path = Encoding.UTF8.GetString(p.Slice(Signature.SizeOf + 2, len));
                if (!_databases.TryGetValue(rec.Database, out var known) || known.Signature != sig)
                {
                    var file = _attach(rec.Database, sig, path);
                    if (file is not null)
                    {
                        _databases[rec.Database] = (file, sig);
                        AttachChanges[rec.Database] = (file, sig);
                    }
                }
                return _txn.Count == 0;
            }
            case LogRecordType.BackupRecorded:
                if (_databases.TryGetValue(rec.Database, out var target))
                {
                    var (type, info) = BackupRecord.Parse(rec.Payload.Span);
                    var h = target.File.ReadHeader();
                    BackupRecord.Apply(ref h, type, info);
                    target.File.WriteHeader(ref h);
                }
                return _txn.Count == 0;
            case LogRecordType.Detach:
                if (_databases.ContainsKey(rec.Database))
                {
                    FlushPages();
                    _databases.Remove(rec.Database);
                    AttachChanges[rec.Database] = null;
                }
                return _txn.Count == 0;
            default:
                return _txn.Count == 0;
        }
    }

    private void Apply(LogRecord rec)
    {
        if (!_databases.TryGetValue(rec.Database, out var db))
        {
            return; // a database detached since, or one whose file is gone with a later detach
        }
        ulong key = ((ulong)rec.Database << 32) | rec.Page;
        if (!_pages.TryGetValue(key, out var segment))
        {
            segment = _arena.Rent(db.File.PageSize);
            _pages[key] = segment;
            if (rec.Type == LogRecordType.PageImage && rec.Payload.Length == segment.Count)
            {
                // A whole image needs nothing from the disk: replaying it and every later record gives the same page
                // whatever the file holds (older, or already newer from an interrupted run), so the read is skipped.
                rec.Payload.Span.CopyTo(segment);
                Touched.Add(rec.Database);
                RecordsApplied++;
                return;
            }
            var fresh = segment.AsSpan();
            db.File.ReadRaw(rec.Page, fresh);
            if (!Checksum.VerifyPage(fresh, rec.Page) && !Checksum.IsAllZero(fresh))
            {
                _torn.Add(key); // a torn write: only a whole-page image can repair it
            }
        }
        var page = segment.AsSpan();
        bool torn = _torn.Contains(key);
        var pageLsn = torn ? Lsn.Zero : Lsn.FromValue(PageHeader.Read(page).Lsn);
        if (pageLsn >= rec.Lsn)
        {
            return;
        }
        if (rec.Type == LogRecordType.PageImage)
        {
            _torn.Remove(key);
        }
        else if (torn)
        {
            throw new PageCorruptException(db.File.Path, rec.Page, $"the page is damaged on disk and the log from the checkpoint holds no whole image of it to repair it from (first change at {rec.Lsn})");
        }
        ApplyToPage(rec, page, $" of '{db.File.Path}'");
        Touched.Add(rec.Database);
        RecordsApplied++;
    }

    /// <summary>Lays one page record on <paramref name="page"/>: a whole image copied, a delta applied. Recovery's replay
    /// and a page repair's roll-forward (<see cref="Repair.PageRepair"/>) share it; <paramref name="file"/> completes
    /// the messages (" of 'PATH'", or empty).</summary>
    /// <exception cref="LogCorruptException">The image is not a page's size, or the delta is malformed.</exception>
    internal static void ApplyToPage(LogRecord rec, Span<byte> page, string file)
    {
        if (rec.Type == LogRecordType.PageImage)
        {
            if (rec.Payload.Length != page.Length)
            {
                throw new LogCorruptException($"Log record at {rec.Lsn} holds a {rec.Payload.Length}-byte image for page {rec.Page}{file}, whose pages are {page.Length} bytes.", rec.Lsn.Generation, rec.Lsn.Offset);
            }
            rec.Payload.Span.CopyTo(page);
        }
        else if (!PageDelta.Apply(rec.Payload.Span, page))
        {
            throw new LogCorruptException($"Log record at {rec.Lsn} (a page delta for page {rec.Page}) is malformed.", rec.Lsn.Generation, rec.Lsn.Offset);
        }
    }

    /// <summary>Writes replayed pages to their files, runs of consecutive pages in one write each, and flushes them.</summary>
    public void FlushPages()
    {
        var files = new HashSet<DatabaseFile>();
        var run = new byte[RunBytes];
        DatabaseFile? runFile = null;
        uint runFirst = 0;
        int runLength = 0;
        foreach (var (key, page) in _pages.OrderBy(kv => kv.Key))
        {
            var dbId = (ushort)(key >> 32);
            if (!_databases.TryGetValue(dbId, out var db) || _torn.Contains(key))
            {
                continue;
            }
            uint pageNo = (uint)key;
            if (runFile != db.File || pageNo != runFirst + runLength / page.Count || runLength + page.Count > run.Length)
            {
                runFile?.WritePages(runFirst, run.AsSpan(0, runLength));
                (runFile, runFirst, runLength) = (db.File, pageNo, 0);
            }
            page.AsSpan().CopyTo(run.AsSpan(runLength));
            runLength += page.Count;
            files.Add(db.File);
        }
        runFile?.WritePages(runFirst, run.AsSpan(0, runLength));
        if (SyncOnFlush)
        {
            foreach (var f in files)
            {
                f.Sync();
            }
        }
        _pages.Clear();
        _torn.Clear();
        _arena.Reset();
    }

    private const int RunBytes = 1 << 20;

    /// <summary>Page buffers carved from large slabs that are reused after each flush: replay touches every page of a
    /// large database once, and a small array per page would be collected, expensively, after surviving for a while.</summary>
    private sealed class PageArena
    {
        private const int SlabBytes = 4 << 20;
        private readonly List<byte[]> _slabs = [];
        private int _slab;
        private int _offset;

        /// <summary>Bytes handed out since the last reset.</summary>
        public long Bytes => (long)_slab * SlabBytes + _offset;

        public ArraySegment<byte> Rent(int size)
        {
            if (_slabs.Count == 0 || _offset + size > SlabBytes)
            {
                if (_slabs.Count > 0)
                {
                    _slab++;
                }
                if (_slab == _slabs.Count)
                {
                    _slabs.Add(new byte[SlabBytes]);
                }
                _offset = 0;
            }
            var segment = new ArraySegment<byte>(_slabs[_slab], _offset, size);
            _offset += size;
            return segment;
        }

        public void Reset()
        {
            _slab = 0;
            _offset = 0;
        }
    }
}

/// <summary>Bounds for hard recovery's replay. Commits whose end lies after <see cref="StopLsn"/>, or whose time is
/// after <see cref="StopTime"/>, are left out with everything after them. A break in the log (missing, foreign or
/// non-contiguous generation) after <see cref="RequiredThrough"/> ends replay when <see cref="UpToContiguous"/>.</summary>
internal sealed record ReplayLimits(Lsn? StopLsn, DateTime? StopTime, uint? LastGeneration, uint RequiredThrough, bool UpToContiguous, CancellationToken CancellationToken)
{
    /// <summary>Commits in generations up to this one are never held back by the stop point: a restored set's own
    /// log range, which the images need to be consistent (a lagged standby's first apply).</summary>
    public uint StopNotThrough { get; init; }
}
