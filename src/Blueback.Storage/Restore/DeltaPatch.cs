using Blueback.IO;
using Blueback.Storage.Format;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Storage.Restore;

/// <summary>What a delta restore did to one database file: pages compared, pages rewritten because they differed,
/// and of those how many failed their checksum in the old copy (damaged, not merely older).</summary>
public sealed record DeltaReport(string Database, long Pages, long Rewritten, long Damaged, bool WholeFile);

/// <summary>A write-only stream that brings an existing database file to the image streamed into it: each page is
/// compared with the page at the same place in the file, and only a page that differs is written (a damaged one,
/// whose checksum fails, always differs from the image's, which the set's hashes vouch for). At the end the file is
/// cut or grown to the image's length and flushed. Restoring over a copy that is older or damaged in a few places
/// then costs reading it, not rewriting it.</summary>
internal sealed class DeltaPatch : Stream, IExistingCopy
{
    private readonly SafeFileHandle _file;
    private readonly int _pageSize;
    private readonly long _oldLength;
    private readonly byte[] _pending;
    private readonly byte[] _old;
    private int _pendingBytes;
    private long _position;

    private readonly string _path;

    public DeltaPatch(string path, int pageSize)
    {
        _path = path;
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        _pageSize = pageSize;
        _oldLength = RandomAccess.GetLength(_file);
        _pending = new byte[pageSize];
        _old = new byte[Math.Max(pageSize, (1 << 20) / pageSize * pageSize)]; // up to 1 MiB of the old copy per read
    }

    public long PagesCompared { get; private set; }
    public long Rewritten { get; private set; }
    public long Damaged { get; private set; }
    public long Written => _position + _pendingBytes;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => Written;
    public override long Position { get => Written; set => throw new NotSupportedException(); }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            if (_pendingBytes == 0 && buffer.Length >= _pageSize)
            {
                // Whole pages: the old copy's range read in one call, then compared page by page.
                int pages = Math.Min(buffer.Length / _pageSize, _old.Length / _pageSize);
                Pages(buffer[..(pages * _pageSize)]);
                buffer = buffer[(pages * _pageSize)..];
                continue;
            }
            int n = Math.Min(buffer.Length, _pageSize - _pendingBytes);
            buffer[..n].CopyTo(_pending.AsSpan(_pendingBytes));
            _pendingBytes += n;
            buffer = buffer[n..];
            if (_pendingBytes == _pageSize)
            {
                _pendingBytes = 0;
                Pages(_pending);
            }
        }
    }

    /// <summary>Brings whole pages into line: reads the old copy's range once, writes each page that differs.</summary>
    private void Pages(ReadOnlySpan<byte> image)
    {
        int count = image.Length / _pageSize;
        int have = _position >= _oldLength ? 0 : (int)Math.Min(count, (_oldLength - _position) / _pageSize);
        if (have > 0)
        {
            RandomAccess.Read(_file, _old.AsSpan(0, have * _pageSize), _position);
        }
        for (int i = 0; i < count; i++)
        {
            var page = image.Slice(i * _pageSize, _pageSize);
            PagesCompared++;
            bool same = false;
            if (i < have)
            {
                var old = _old.AsSpan(i * _pageSize, _pageSize);
                same = page.SequenceEqual(old);
                if (!same && !Checksum.IsAllZero(old) && !Checksum.VerifyPage(old, (uint)(_position / _pageSize)))
                {
                    Damaged++;
                }
            }
            if (!same)
            {
                RandomAccess.Write(_file, page, _position);
                Rewritten++;
            }
            _position += _pageSize;
        }
    }

    /// <summary>Reads the old copy where the next bytes go (for a chunk compared by its hash); false past its end.</summary>
    public bool TryReadExisting(long offset, Span<byte> into)
    {
        if (offset + into.Length > _oldLength)
        {
            return false;
        }
        return RandomAccess.Read(_file, into, offset) == into.Length;
    }

    /// <summary>A whole chunk the old copy already holds: its pages count as compared and kept.</summary>
    public void SkipExisting(int length)
    {
        if (_pendingBytes != 0 || length % _pageSize != 0)
        {
            throw new InvalidOperationException($"a chunk of {length} bytes at {Written} does not fall on page boundaries");
        }
        _position += length;
        PagesCompared += length / _pageSize;
    }

    /// <summary>Writes what is left, sets the file's length to the image's and flushes it.</summary>
    public void Complete()
    {
        if (_pendingBytes > 0)
        {
            RandomAccess.Write(_file, _pending.AsSpan(0, _pendingBytes), _position); // a short tail (never in a whole image)
            _position += _pendingBytes;
            _pendingBytes = 0;
        }
        RandomAccess.SetLength(_file, _position);
        FileSystem.DataSync(_file, _path);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }
        base.Dispose(disposing);
    }
}
