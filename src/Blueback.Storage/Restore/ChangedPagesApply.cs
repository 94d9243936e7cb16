using Blueback.Storage.Format;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Restore;

/// <summary>A write-only stream that lays a changed-pages image (<see cref="ChangedPagesImage"/>) over a database image
/// already restored from an earlier set of the chain: each page is checked (<see cref="ChangedPagesReader"/>) and
/// written at its number, then the file takes the newer set's size, trailer and header pages, so that hard recovery
/// replays from the newer set's checkpoint. A page that was still all zeros when the backup read it is left as it is:
/// the set's logs hold its first image.</summary>
internal sealed class ChangedPagesApply : Stream
{
    private readonly IPageStore _file;
    private readonly string _path;
    private readonly int _pageSize;
    private readonly uint _oldPageCount;
    private readonly ChangedPagesReader _reader;
    private readonly byte[] _pending;
    private readonly byte[] _headers;
    private int _pendingBytes;
    private long _written;
    private bool _oldTrailerOverwritten;
    private byte[]? _trailer;

    /// <param name="store">The image written before (a file, or a mounted set's image, whose overlay takes the pages);
    /// disposed with this.</param>
    public ChangedPagesApply(IPageStore store, string path, int pageSize)
    {
        _path = path;
        _pageSize = pageSize;
        _file = store;
        long length = store.Length;
        _oldPageCount = (uint)(length / pageSize - 1); // the earlier image's trailer lies here
        _reader = new ChangedPagesReader(pageSize);
        _pending = new byte[pageSize];
        _headers = new byte[ChangedPagesImage.MapStart * pageSize];
    }

    /// <summary>Pages written (all-zero ones left out).</summary>
    public long PagesWritten { get; private set; }

    public long Written => _written;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _written;
    public override long Position { get => _written; set => throw new NotSupportedException(); }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _written += buffer.Length;
        while (buffer.Length > 0)
        {
            if (_pendingBytes == 0 && buffer.Length >= _pageSize)
            {
                Take(buffer[.._pageSize]);
                buffer = buffer[_pageSize..];
                continue;
            }
            int n = Math.Min(buffer.Length, _pageSize - _pendingBytes);
            buffer[..n].CopyTo(_pending.AsSpan(_pendingBytes));
            _pendingBytes += n;
            buffer = buffer[n..];
            if (_pendingBytes == _pageSize)
            {
                _pendingBytes = 0;
                Take(_pending);
            }
        }
    }

    private void Take(ReadOnlySpan<byte> page)
    {
        ChangedPagesReader.Part part;
        uint number;
        bool zero;
        try
        {
            part = _reader.Take(page, out number, out zero);
        }
        catch (ChangedPagesFormatException ex)
        {
            throw new RestoreException($"The changed pages for '{_path}' are not valid: {ex.Message} Run 'blueback verify' on the set; restore an earlier set if it fails.");
        }
        switch (part)
        {
            case ChangedPagesReader.Part.Header:
                page.CopyTo(_headers.AsSpan((int)number * _pageSize));
                break;
            case ChangedPagesReader.Part.Page when !zero:
                _file.Write((long)number * _pageSize, page);
                PagesWritten++;
                _oldTrailerOverwritten |= number == _oldPageCount;
                break;
            case ChangedPagesReader.Part.Trailer:
                _trailer = page.ToArray();
                break;
        }
    }

    /// <summary>Everything arrived: the file takes the newer image's size, trailer and header pages, and is flushed.</summary>
    public void Complete()
    {
        if (_trailer is null || _pendingBytes != 0)
        {
            throw new RestoreException($"The changed pages for '{_path}' ended before their trailer: the transfer was cut short. Run the restore again.");
        }
        uint pageCount = _reader.Trailer!.Value.PageCount;
        if (pageCount < _oldPageCount)
        {
            throw new RestoreException($"The changed pages for '{_path}' describe {pageCount} pages, fewer than the {_oldPageCount} of the image before them in the chain: they do not belong to it. Run 'blueback verify' on the chain.");
        }
        if (pageCount > _oldPageCount && !_oldTrailerOverwritten)
        {
            _file.Write((long)_oldPageCount * _pageSize, new byte[_pageSize]); // a page never written, not a trailer
        }
        _file.SetLength(((long)pageCount + 1) * _pageSize);
        _file.Write((long)pageCount * _pageSize, _trailer);
        _file.Write(0, _headers);
        _file.Sync();
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }
        base.Dispose(disposing);
    }
}
