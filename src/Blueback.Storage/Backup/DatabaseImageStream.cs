using Blueback.Storage.Format;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Backup;

/// <summary>A database image as a stream: the header twice (with the current-backup record), every page from 2 to
/// the page count at open (each read under the file's range lock so no flush can tear it, each checksum and page
/// number verified, transient mismatches retried), then the trailer page. Pages added after the image was opened
/// are covered by the logs.</summary>
internal sealed class DatabaseImageStream : BackupReadStream, IUnchangedPages
{
    private const int PagesPerRange = 64;

    private readonly InstanceBackup _backup;
    private readonly Database _db;
    private readonly DatabaseFile _file;
    private readonly int _pageSize;
    private readonly uint _pageCount;
    private readonly byte[] _headers;
    private byte[]? _range; // for reads that do not start on a page or ask for less than one
    private long _position;
    private int _rangeFirst = -1;
    private int _rangeCount;
    private bool _closed;
    private byte[]? _trailer;
    private readonly UncachedPageReader _reader;
    private readonly VerifiedPageReads _pages;
    private readonly uint[]? _changed; // a full with a page base: its changed pages, sorted

    private readonly long _start, _end;

    /// <param name="start">Where the stream starts in the image (whole pages; 0 for the whole image).</param>
    /// <param name="end">Where it ends (the image's length for the whole image).</param>
    public DatabaseImageStream(InstanceBackup backup, Database db, uint pageCount, DatabaseHeader header, long start, long end)
    {
        _start = start;
        _end = end;
        _position = start;
        _backup = backup;
        _db = db;
        _file = db.File;
        _pageSize = db.PageSize;
        _pageCount = Math.Max(pageCount, FormatConstants.FirstDataPage);
        _headers = VerifiedPageReads.HeaderPages(backup, header, _pageSize);
        _reader = new UncachedPageReader(_file, Math.Min(end, (long)_pageCount * _pageSize)) { FellBack = reason => backup.ReportBufferedReads(db.Name, _file.Path, reason) };
        _pages = new VerifiedPageReads(backup, db, _reader.Read, _reader.Forget, _reader.ReadCached);
        _changed = backup.PagesChangedSinceBase(db.Name);
    }

    public string DatabaseName => _db.Name;

    /// <summary>Bytes of pages read from the disk around the page cache (<see cref="UncachedPageReader"/>).</summary>
    internal long BytesReadAroundCache => _reader.DirectBytes;

    /// <summary>Pages before the trailer.</summary>
    public uint PageCount => _pageCount;

    /// <summary>The database's page size.</summary>
    public int PageSize => _pageSize;

    /// <summary>The bytes this stream sends: the whole image, or the part asked for.</summary>
    public override long Length => _end - _start;

    /// <summary>The whole image's length.</summary>
    private long ImageLength => ((long)_pageCount + 1) * _pageSize;

    protected override long ReadPosition => _position - _start;

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        _backup.ThrowIfAborted();
        int total = 0;
        while (buffer.Length > 0 && _position < _end)
        {
            uint page = (uint)(_position / _pageSize);
            int inPage = (int)(_position % _pageSize);
            if (inPage == 0 && page > FormatConstants.ShadowHeaderPage && page < _pageCount && buffer.Length >= _pageSize && !RangeHolds(page))
            {
                // Whole pages straight into the caller's buffer, checked there: one copy fewer per byte.
                int count = (int)Math.Min(Math.Min(Math.Min(PagesPerRange, _pageCount - page), (uint)(buffer.Length / _pageSize)), (_end - _position) / _pageSize);
                int bytes = count * _pageSize;
                LoadPages(page, count, buffer[..bytes]);
                buffer = buffer[bytes..];
                _position += bytes;
                total += bytes;
                continue;
            }
            ReadOnlySpan<byte> source;
            if (page <= FormatConstants.ShadowHeaderPage)
            {
                source = _headers.AsSpan((int)page * _pageSize, _pageSize);
            }
            else if (page < _pageCount)
            {
                source = PageFromRange(page);
            }
            else
            {
                source = _trailer ??= Trailer();
            }
            int n = Math.Min(buffer.Length, _pageSize - inPage);
            source.Slice(inPage, n).CopyTo(buffer);
            buffer = buffer[n..];
            _position += n;
            total += n;
        }
        if (_position == _end && total > 0)
        {
            _backup.ImageCompleted(_db.Name, this, _start, _end, ImageLength);
        }
        return total;
    }

    public bool NextUnchanged(int length)
    {
        if (_changed is null || length <= 0 || _position % _pageSize != 0 || length % _pageSize != 0 || _position + length > _end)
        {
            return false;
        }
        long first = _position / _pageSize, last = first + length / _pageSize - 1;
        if (first <= FormatConstants.ShadowHeaderPage || last >= _pageCount)
        {
            return false; // the header pages and the trailer are this backup's own
        }
        // The first changed page at or after `first`: the run is unchanged when there is none up to `last`.
        int at = Array.BinarySearch(_changed, (uint)first);
        at = at >= 0 ? at : ~at;
        return at == _changed.Length || _changed[at] > last;
    }

    public void SkipUnchanged(int length)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        _backup.ThrowIfAborted();
        if (!NextUnchanged(length))
        {
            throw new InvalidOperationException($"Bytes {_position}+{length} of the image of database '{_db.Name}' are not unchanged pages: they must be read.");
        }
        _position += length;
        if (_position == _end)
        {
            _backup.ImageCompleted(_db.Name, this, _start, _end, ImageLength);
        }
    }

    private bool RangeHolds(uint page) => _rangeFirst >= 0 && page >= _rangeFirst && page < _rangeFirst + _rangeCount;

    private ReadOnlySpan<byte> PageFromRange(uint page)
    {
        if (!RangeHolds(page))
        {
            int count = (int)Math.Min(PagesPerRange, _pageCount - page);
            _rangeFirst = -1;
            _range ??= new byte[PagesPerRange * _pageSize];
            LoadPages(page, count, _range.AsSpan(0, count * _pageSize));
            _rangeFirst = (int)page;
            _rangeCount = count;
        }
        return _range!.AsSpan((int)(page - _rangeFirst) * _pageSize, _pageSize);
    }

    private void LoadPages(uint first, int count, Span<byte> span) => _pages.Load(first, count, span);

    private byte[] Trailer() => VerifiedPageReads.TrailerPage(_backup, _db, _pageCount);

    protected override void Dispose(bool disposing)
    {
        if (!_closed)
        {
            _closed = true;
            _reader.Dispose();
            _backup.ImageClosed(this);
        }
        base.Dispose(disposing);
    }
}
