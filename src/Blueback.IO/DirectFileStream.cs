using Microsoft.Win32.SafeHandles;

namespace Blueback.IO;

/// <summary>A new file written front to back around the page cache (O_DIRECT where the file system takes it), as a
/// write-only stream: for restored database images and log generations, gigabytes written once (see
/// <see cref="DirectFileWriter"/> for why the cache costs more than the disk here). Block-aligned memory goes to the
/// disk as it is; anything else is gathered in an aligned staging buffer. <see cref="Complete"/> writes the padded
/// tail, cuts the length back and flushes; a file never completed is its owner's to delete.</summary>
public sealed class DirectFileStream : Stream
{
    private const int Alignment = DirectFileWriter.Alignment;
    private readonly SafeFileHandle _handle;
    private nint _staging;
    private int _filled;
    private bool _completed;

    private DirectFileStream(SafeFileHandle handle, string path)
    {
        _handle = handle;
        FilePath = path;
        _staging = DirectFileWriter.RentStaging();
    }

    public string FilePath { get; }

    /// <summary>Bytes accepted so far (the file's length once completed).</summary>
    public long Written { get; private set; }

    /// <summary>Creates (or truncates) the file; <paramref name="expectedLength"/> is reserved up front, so the file
    /// gets few extents and a full disk shows at once.</summary>
    public static DirectFileStream Create(string path, long expectedLength)
    {
        var handle = DirectFileWriter.Open(path, createNew: false);
        try
        {
            if (expectedLength > 0)
            {
                FileSystem.Reserve(handle, path, expectedLength);
            }
            return new DirectFileStream(handle, path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Where the staged bytes go in the file: everything before them is written.</summary>
    private long StagedAt => Written - _filled;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_completed;
    public override long Length => Written;
    public override long Position { get => Written; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Nothing to do: full blocks reach the file as they come, the rest at <see cref="Complete"/>.</summary>
    public override void Flush()
    {
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_staging == 0, this);
        if (_completed)
        {
            throw new InvalidOperationException($"'{FilePath}' is complete: nothing more can be written to it.");
        }
        var staging = new Span<byte>((void*)_staging, DirectFileWriter.StagingSize);
        while (!buffer.IsEmpty)
        {
            fixed (byte* source = buffer)
            {
                if (_filled == 0 && (nint)source % Alignment == 0 && buffer.Length >= Alignment)
                {
                    int whole = buffer.Length / Alignment * Alignment;
                    DirectFileWriter.Write(_handle, FilePath, buffer[..whole], Written);
                    Written += whole;
                    buffer = buffer[whole..];
                    continue;
                }
            }
            int n = Math.Min(staging.Length - _filled, buffer.Length);
            buffer[..n].CopyTo(staging[_filled..]);
            _filled += n;
            Written += n;
            buffer = buffer[n..];
            if (_filled == staging.Length)
            {
                DirectFileWriter.Write(_handle, FilePath, staging, StagedAt);
                _filled = 0;
            }
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span); // a write of a few megabytes at most, on the caller's thread
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Writes the staged tail (padded to a block, then the length cut back) and flushes the data to disk.</summary>
    public unsafe void Complete()
    {
        ObjectDisposedException.ThrowIf(_staging == 0, this);
        if (_completed)
        {
            return;
        }
        if (_filled > 0)
        {
            var staging = new Span<byte>((void*)_staging, DirectFileWriter.StagingSize);
            int padded = (_filled + Alignment - 1) / Alignment * Alignment;
            staging[_filled..padded].Clear();
            DirectFileWriter.Write(_handle, FilePath, staging[..padded], StagedAt);
        }
        try
        {
            RandomAccess.SetLength(_handle, Written); // always: a padded tail or the reservation may reach beyond
        }
        catch (IOException ex)
        {
            throw new IOException($"Setting the length of '{FilePath}' to {Written:N0} bytes failed: {ex.Message}", ex);
        }
        FileSystem.DataSync(_handle, FilePath);
        _completed = true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _staging != 0)
        {
            DirectFileWriter.ReturnStaging(_staging);
            _staging = 0;
            _handle.Dispose();
        }
        base.Dispose(disposing);
    }
}
