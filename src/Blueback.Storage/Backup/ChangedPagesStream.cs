using Blueback.Storage.Format;

namespace Blueback.Storage.Backup;

/// <summary>A changed-pages image as a stream (layout: <see cref="ChangedPagesImage"/>): the header pages, the map,
/// the pages the page summaries name (read in runs of neighbours through the page cache, under the file's range lock,
/// each checked like a whole image's), then the trailer. Its length is known at open.</summary>
internal sealed class ChangedPagesStream : BackupReadStream
{
    private const int MaxRun = 64;

    private readonly InstanceBackup _backup;
    private readonly Database _db;
    private readonly uint[] _pages;
    private readonly int _pageSize;
    private readonly uint _pageCount;
    private readonly VerifiedPageReads _reads;
    private readonly byte[] _run;
    private byte[] _segment;
    private int _segmentLength, _segmentAt;
    private int _next; // index in _pages of the next page to load
    private int _stage; // 0 headers, 1 map, 2 pages, 3 trailer, 4 done
    private long _position;
    private bool _closed;

    public ChangedPagesStream(InstanceBackup backup, Database db, uint pageCount, DatabaseHeader header, uint[] pages)
    {
        _backup = backup;
        _db = db;
        _pages = pages;
        _pageSize = db.PageSize;
        _pageCount = pageCount;
        _run = new byte[MaxRun * _pageSize];
        var file = db.File;
        _reads = new VerifiedPageReads(backup, db, (first, span) =>
        {
            file.Faults?.Before(IoOperation.DatabaseRead, file.Path);
            lock (file.RangeLock)
            {
                file.ReadRaw(first, span);
            }
        }, () => { });
        _segment = VerifiedPageReads.HeaderPages(backup, header, _pageSize);
        _segmentLength = _segment.Length;
        Length = ChangedPagesImage.Length(pages.Length, _pageSize);
    }

    public override long Length { get; }

    protected override long ReadPosition => _position;

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        _backup.ThrowIfAborted();
        int total = 0;
        while (buffer.Length > 0 && _stage < 4)
        {
            if (_segmentAt == _segmentLength)
            {
                NextSegment();
                continue;
            }
            int n = Math.Min(buffer.Length, _segmentLength - _segmentAt);
            _segment.AsSpan(_segmentAt, n).CopyTo(buffer);
            _segmentAt += n;
            buffer = buffer[n..];
            total += n;
            _position += n;
        }
        if (_position == Length)
        {
            _backup.ImageCompleted(_db.Name, this, 0, Length, Length);
        }
        return total;
    }

    private void NextSegment()
    {
        _segmentAt = 0;
        switch (_stage)
        {
            case 0:
                _segment = ChangedPagesImage.BuildMap(_pages, _pageSize);
                _segmentLength = _segment.Length;
                _stage = 1;
                return;
            case 1 or 2 when _next < _pages.Length:
            {
                // A run of neighbouring pages is one read.
                int count = 1;
                while (count < MaxRun && _next + count < _pages.Length && _pages[_next + count] == _pages[_next] + count)
                {
                    count++;
                }
                _reads.Load(_pages[_next], count, _run.AsSpan(0, count * _pageSize));
                _next += count;
                _segment = _run;
                _segmentLength = count * _pageSize;
                _stage = 2;
                return;
            }
            case 1 or 2:
                _segment = VerifiedPageReads.TrailerPage(_backup, _db, _pageCount);
                _segmentLength = _segment.Length;
                _stage = 3;
                return;
            default:
                _segmentLength = 0;
                _stage = 4;
                return;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!_closed)
        {
            _closed = true;
            _backup.ImageClosed(this);
        }
        base.Dispose(disposing);
    }
}
