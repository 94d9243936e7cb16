using System.Buffers.Binary;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Transactions;

namespace Blueback.Storage;

public sealed partial class StorageInstance
{
    private const long MaxPendingLogBytes = 64L << 20;
    private long _commits;

    public long Commits => Interlocked.Read(ref _commits);
    public long LogFlushes => _log?.FlushCount ?? 0;
    public long LogBytesWritten => _log?.BytesWritten ?? 0;
    public long CacheHits => Cache.Hits;
    public long CacheMisses => Cache.Misses;
    public long CacheBytes => Cache.Bytes;

    /// <summary>Appends the transaction's page records and its commit record as one contiguous group and publishes
    /// its pages. Returns the commit's end position (zero if it changed nothing). Called with the writer lock held;
    /// the caller releases it and then waits for durability (<see cref="WhenDurable"/>), so that the next writer
    /// works while this commit's flush runs.</summary>
    internal Lsn Commit(WriteTransaction tx, CommitMode mode)
    {
        ThrowIfUnusable();
        if (_log.DiskFull is { } full)
        {
            throw full.Again(); // refused before anything is appended: the transaction is simply not committed
        }
        var views = tx.Views.Where(v => v.Pages.Count > 0).OrderBy(v => v.Database.Id).ToList();
        if (views.Count == 0)
        {
            return Lsn.Zero;
        }
        Lsn commitEnd;
        try
        {
            using (_log.AppendScope())
            {
                var published = new List<PublishedPage>();
                foreach (var view in views)
                {
                    foreach (var (pageNo, page) in view.Pages.OrderBy(p => p.Key))
                    {
                        published.Add(AppendPage(view.Database, pageNo, page));
                    }
                }
                long seq = ++_sequence;
                Span<byte> payload = stackalloc byte[16];
                BinaryPrimitives.WriteInt64LittleEndian(payload, seq);
                var now = DateTime.UtcNow;
                BinaryPrimitives.WriteInt64LittleEndian(payload[8..], now.Ticks);
                _log.AppendSmall(LogRecordType.Commit, 0, 0, payload);
                commitEnd = _log.AppendPositionLocked;
                tx.CommitLsn = commitEnd;
                tx.CommitTime = now;
                // Published under the append lock: a checkpoint that takes its redo point after this commit's
                // records then always finds its pages dirty.
                Cache.Publish(published, seq, commitEnd);
                foreach (var view in views.Where(v => v.PiecesChanged))
                {
                    view.Database.PieceSpace = view.Pieces;
                }
                _snapshots.Committed(seq, commitEnd, mode == CommitMode.Lazy, _log.FlushedLsn);
            }
        }
        catch (Exception ex)
        {
            // Records of a transaction without its commit must never be followed by another commit.
            Poison(ex);
            throw new InstancePoisonedException(Name, ex);
        }
        Interlocked.Increment(ref _commits);
        return commitEnd;
    }

    /// <summary>What a committer waits for before acknowledging: its commit on disk (durable), or, for a lazy
    /// commit, only room in the log buffer.</summary>
    internal Task WhenDurable(Lsn commitEnd, CommitMode mode)
    {
        Cache.EnsureBound();
        if (commitEnd == Lsn.Zero || (mode == CommitMode.Lazy && _log.PendingBytes <= MaxPendingLogBytes))
        {
            return Task.CompletedTask;
        }
        return _log.TryFlushInline(commitEnd) ? Task.CompletedTask : _log.WhenFlushedAsync(commitEnd);
    }

    private PublishedPage AppendPage(Database db, uint pageNo, PrivatePage page)
    {
        var data = page.Data;
        ref var header = ref PageHeader.Of(data);
        header.PageNumber = pageNo;
        if (page.Base is null || page.BaseData is null || Cache.NeedsImage(page.Base))
        {
            var span = _log.Reserve(LogRecordType.PageImage, db.Id, pageNo, data.Length, out var lsn);
            header.Lsn = lsn.Value;
            data.CopyTo(span);
            _log.Seal(lsn);
            return new PublishedPage(db.Id, pageNo, data, lsn);
        }
        var ranges = PageDelta.Compute(page.BaseData, data);
        var dspan = _log.Reserve(LogRecordType.PageDelta, db.Id, pageNo, PageDelta.PayloadSize(ranges), out var dlsn);
        header.Lsn = dlsn.Value;
        PageDelta.Write(dspan, ranges, data);
        _log.Seal(dlsn);
        return new PublishedPage(db.Id, pageNo, data, Lsn.Zero);
    }
}
