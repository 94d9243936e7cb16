using System.Runtime.InteropServices;
using Blueback.Storage.Format;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Backup;

/// <summary>A database image as a stream: the header twice (with the current-backup record), every page from 2 to
/// the page count at open (each read under the file's range lock so no flush can tear it, each checksum and page
/// number verified, transient mismatches retried), then the trailer page. Pages added after the image was opened
/// are covered by the logs.</summary>
internal sealed class DatabaseImageStream : BackupReadStream
{
    private const int PagesPerRange = 64;
    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(80), TimeSpan.FromMilliseconds(160)];

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

    public DatabaseImageStream(InstanceBackup backup, Database db, uint pageCount, DatabaseHeader header)
    {
        _backup = backup;
        _db = db;
        _file = db.File;
        _pageSize = db.PageSize;
        _pageCount = Math.Max(pageCount, FormatConstants.FirstDataPage);
        _headers = new byte[(FormatConstants.ShadowHeaderPage + 1) * _pageSize];
        _reader = new UncachedPageReader(_file);
        header.CurrentBackup = new BackupInfo { MarkLsn = backup.Mark.Value, MarkTicks = backup.Started.Ticks, GenLow = backup.GenLow, GenHigh = 0 };
        for (uint copy = FormatConstants.HeaderPage; copy <= FormatConstants.ShadowHeaderPage; copy++)
        {
            var page = _headers.AsSpan((int)copy * _pageSize, _pageSize);
            header.Page.PageNumber = copy;
            header.Page.Type = PageType.DatabaseHeader;
            MemoryMarshal.Write(page, in header);
            Checksum.StampPage(page, copy);
        }
    }

    public string DatabaseName => _db.Name;

    /// <summary>Bytes of pages read from the disk around the page cache (<see cref="UncachedPageReader"/>).</summary>
    internal long BytesReadAroundCache => _reader.DirectBytes;

    /// <summary>Pages before the trailer.</summary>
    public uint PageCount => _pageCount;

    public override long Length => ((long)_pageCount + 1) * _pageSize;

    protected override long ReadPosition => _position;

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        _backup.ThrowIfAborted();
        int total = 0;
        while (buffer.Length > 0 && _position < Length)
        {
            uint page = (uint)(_position / _pageSize);
            int inPage = (int)(_position % _pageSize);
            if (inPage == 0 && page > FormatConstants.ShadowHeaderPage && page < _pageCount && buffer.Length >= _pageSize && !RangeHolds(page))
            {
                // Whole pages straight into the caller's buffer, checked there: one copy fewer per byte.
                int count = (int)Math.Min(Math.Min(PagesPerRange, _pageCount - page), (uint)(buffer.Length / _pageSize));
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
        if (_position == Length)
        {
            _backup.ImageCompleted(this);
        }
        return total;
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

    /// <summary>Reads pages <paramref name="first"/> onwards into <paramref name="span"/> under the file's range
    /// lock, so no flush can tear them, and checks each; a mismatch is read again after a short wait (bounded, and
    /// cut short by an abort; a transient one is reported), and one that persists fails the backup naming the page.</summary>
    private void LoadPages(uint first, int count, Span<byte> span)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                _reader.Read(first, span); // under the file's range lock
            }
            catch (IOException ex)
            {
                throw new StorageIOException($"Reading pages {first} to {first + count - 1} of database '{_db.Name}' ('{_file.Path}') for the backup failed: {ex.Message}. The backup cannot go on; the instance keeps serving. Check the disk, then take the backup again.", ex);
            }
            uint? bad = FirstBadPage(first, count, span);
            if (bad is null)
            {
                if (attempt > 0)
                {
                    _backup.ReportTransientRead(_db.Name, first, attempt);
                }
                break;
            }
            if (attempt >= RetryDelays.Length)
            {
                throw new PageCorruptException(_file.Path, bad.Value,
                    $"the page fails its checksum or page number in backup reads ({attempt + 1} reads over {RetryDelays.Sum(d => d.TotalMilliseconds):0} ms), so database '{_db.Name}' cannot be backed up");
            }
            _backup.WaitBeforeRetry(_db.Name, bad.Value, attempt, RetryDelays[attempt]);
            _reader.Forget(); // read again from the file, not from what was read ahead
        }
    }

    private uint? FirstBadPage(uint first, int count, ReadOnlySpan<byte> span)
    {
        for (int i = 0; i < count; i++)
        {
            var page = span.Slice(i * _pageSize, _pageSize);
            uint no = first + (uint)i;
            if (Checksum.VerifyPage(page, no) ? PageHeader.Read(page).PageNumber != no : !Checksum.IsAllZero(page))
            {
                return no;
            }
        }
        return null;
    }

    private byte[] Trailer()
    {
        var page = new byte[_pageSize];
        var t = new BackupTrailer
        {
            Magic = BackupTrailer.MagicValue,
            FormatVersion = BackupTrailer.CurrentVersion,
            DatabaseId = _db.Id,
            DatabaseSignature = _db.Signature,
            LogSignature = _db.Instance.LogSignature,
            GenLow = _backup.GenLow,
            GenHigh = _db.Instance.CurrentGeneration,
            MarkLsn = _backup.Mark.Value,
            MarkTicks = _backup.Started.Ticks,
            PageCount = _pageCount,
            PageSize = (uint)_pageSize,
            BackupId = _backup.Id,
            RedoLsn = _backup.RedoPoint.Value,
        };
        t.Page.Type = PageType.BackupTrailer;
        t.Page.PageNumber = _pageCount;
        MemoryMarshal.Write(page, in t);
        Checksum.StampPage(page, _pageCount);
        return page;
    }

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
