using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Storage;

/// <summary>A new file written front to back around the page cache (O_DIRECT on Linux), for the chunks of backup
/// sets (the repository links this file; restores write through the cache, as replay reads the pages next). Why: a buffered write copies every byte into freshly allocated page-cache
/// pages, which on the machines measured here costs more than the disk itself (dd: about 320 MB/s buffered against
/// 1,000 MB/s direct, docs/benchmarks.md), and a backup that fills the page cache evicts the server's working set.
/// Bytes are staged in two aligned buffers: one is written while the other fills. Where the file system refuses
/// O_DIRECT (tmpfs) the same code writes through the page cache. <see cref="CompleteAsync"/> writes the tail, sets
/// the exact length and flushes to disk; a file never completed is left for its owner to delete.</summary>
internal sealed partial class DirectFileWriter : Stream
{
    public const int Alignment = 4096;
    public const int DefaultBufferSize = 4 << 20;

    private readonly SafeFileHandle _handle;
    private readonly int _bufferSize;
    private readonly nint[] _buffers = new nint[2];
    private readonly Task?[] _pending = new Task?[2];
    private int _current;
    private int _filled;
    private long _bufferOffset;
    private bool _completed;
    private bool _disposed;

    private DirectFileWriter(SafeFileHandle handle, string path, bool direct, int bufferSize)
    {
        _handle = handle;
        Path = path;
        IsDirect = direct;
        _bufferSize = bufferSize;
        _buffers[0] = AlignedBuffers.Rent(bufferSize);
        _buffers[1] = AlignedBuffers.Rent(bufferSize);
    }

    public string Path { get; }

    /// <summary>False when the file system refused O_DIRECT and the file is written through the page cache.</summary>
    public bool IsDirect { get; }

    /// <summary>Bytes accepted so far (the file's length once completed).</summary>
    public long Written { get; private set; }

    /// <summary>Creates (or truncates; with <paramref name="createNew"/>, refuses an existing) file at
    /// <paramref name="path"/>. <paramref name="expectedLength"/>, when known, is reserved up front so the file
    /// gets few extents and a full disk shows at once.</summary>
    public static DirectFileWriter Create(string path, bool createNew = false, long expectedLength = 0, int bufferSize = DefaultBufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, Alignment);
        bufferSize = (bufferSize + Alignment - 1) / Alignment * Alignment;
        var (handle, direct) = Open(path, createNew);
        try
        {
            if (expectedLength > 0)
            {
                FileSystem.Reserve(handle, path, expectedLength);
            }
            return new DirectFileWriter(handle, path, direct, bufferSize);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Writes <paramref name="data"/> as the whole content of a new file, flushed to disk.</summary>
    public static void WriteFile(string path, ReadOnlySpan<byte> data, bool createNew = false)
    {
        using var writer = Create(path, createNew, data.Length, Math.Max(Alignment, Math.Min(DefaultBufferSize, data.Length)));
        writer.Write(data);
        writer.Complete();
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_completed && !_disposed;
    public override long Length => Written;
    public override long Position { get => Written; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Nothing to do: data reaches the file buffer by buffer, and the disk at <see cref="CompleteAsync"/>.</summary>
    public override void Flush()
    {
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Writes on the calling thread: a full buffer goes to the file before this returns (the overlap of
    /// filling one buffer while the other is written is the async path's).</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = Stage(buffer);
            buffer = buffer[n..];
            if (_filled == _bufferSize)
            {
                WriteBuffer(_handle, Path, _buffers[_current], _filled, _bufferOffset);
                _bufferOffset += _filled;
                _filled = 0;
            }
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Stage(buffer.Span);
            buffer = buffer[n..];
            if (_filled == _bufferSize)
            {
                await Submit().ConfigureAwait(false);
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Writes what is staged (the last block padded, then the length cut back to the exact size) and
    /// flushes the file's data to disk.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            return;
        }
        cancellationToken.ThrowIfCancellationRequested();
        long length = Written;
        if (_filled > 0)
        {
            int padded = (_filled + Alignment - 1) / Alignment * Alignment;
            Staged(_current, _filled, padded - _filled).Clear();
            _filled = padded;
            await Submit().ConfigureAwait(false);
        }
        await WaitAllAsync().ConfigureAwait(false);
        Finish(length);
    }

    /// <summary>The synchronous <see cref="CompleteAsync"/>, for writers that used only <see cref="Write(ReadOnlySpan{byte})"/>.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            return;
        }
        if (_pending[0] is not null || _pending[1] is not null)
        {
            throw new InvalidOperationException($"'{Path}' has asynchronous writes in flight: complete it with CompleteAsync.");
        }
        long length = Written;
        if (_filled > 0)
        {
            int padded = (_filled + Alignment - 1) / Alignment * Alignment;
            Staged(_current, _filled, padded - _filled).Clear();
            WriteBuffer(_handle, Path, _buffers[_current], padded, _bufferOffset);
            _bufferOffset += padded;
            _filled = 0;
        }
        Finish(length);
    }

    private void Finish(long length)
    {
        try
        {
            // Always set: a padded tail wrote past the end, and a reservation may have reached beyond it.
            RandomAccess.SetLength(_handle, length);
        }
        catch (IOException ex)
        {
            throw new IOException($"Setting the length of '{Path}' to {length:N0} bytes failed: {ex.Message}", ex);
        }
        FileSystem.DataSync(_handle, Path);
        _completed = true;
    }

    private int Stage(ReadOnlySpan<byte> source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            throw new InvalidOperationException($"'{Path}' is already complete.");
        }
        int n = Math.Min(source.Length, _bufferSize - _filled);
        source[..n].CopyTo(Staged(_current, _filled, n));
        _filled += n;
        Written += n;
        return n;
    }

    /// <summary>Starts writing the current buffer and switches to the other one, once that one's own write is done.</summary>
    private async Task Submit()
    {
        nint buffer = _buffers[_current];
        int length = _filled;
        long offset = _bufferOffset;
        var handle = _handle;
        var path = Path;
        // A direct write blocks until the disk has the data: on a thread of its own, not one of the pool's few.
        _pending[_current] = Task.Factory.StartNew(() => WriteBuffer(handle, path, buffer, length, offset), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _bufferOffset += length;
        _filled = 0;
        _current ^= 1;
        if (_pending[_current] is { } previous)
        {
            _pending[_current] = null;
            await previous.ConfigureAwait(false);
        }
    }

    private unsafe Span<byte> Staged(int index, int start, int length) => new((byte*)_buffers[index] + start, length);

    private static unsafe void WriteBuffer(SafeFileHandle handle, string path, nint buffer, int length, long offset)
    {
        try
        {
            RandomAccess.Write(handle, new ReadOnlySpan<byte>((void*)buffer, length), offset);
        }
        catch (IOException ex)
        {
            throw new IOException($"Writing '{path}' at offset {offset:N0} failed: {ex.Message}", ex);
        }
    }

    private async Task WaitAllAsync()
    {
        for (int i = 0; i < 2; i++)
        {
            if (_pending[i] is { } p)
            {
                _pending[i] = null;
                await p.ConfigureAwait(false);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            // A write in flight reads from a buffer about to be returned: it must end first. It is one disk write of
            // at most a buffer, already submitted; nothing else is waited for.
            foreach (var p in _pending)
            {
                try
                {
                    p?.Wait();
                }
                catch (AggregateException)
                {
                    // Its failure was (or will never be) reported by the write that was waiting for it.
                }
            }
            AlignedBuffers.Return(_buffers[0], _bufferSize);
            AlignedBuffers.Return(_buffers[1], _bufferSize);
            _handle.Dispose();
        }
        base.Dispose(disposing);
    }

    private static (SafeFileHandle Handle, bool Direct) Open(string path, bool createNew)
    {
        var mode = createNew ? FileMode.CreateNew : FileMode.Create;
        if (!OperatingSystem.IsLinux() || DirectFlag == 0)
        {
            return (File.OpenHandle(path, mode, FileAccess.Write, FileShare.None), false);
        }
        int flags = 0x1 /* O_WRONLY */ | 0x40 /* O_CREAT */ | 0x80000 /* O_CLOEXEC */ | (createNew ? 0x80 /* O_EXCL */ : 0x200 /* O_TRUNC */);
        int fd = OpenFile(path, flags | DirectFlag, 0x1B6 /* 0666, less the umask */);
        if (fd < 0 && Marshal.GetLastPInvokeError() == 22 /* EINVAL: the file system does not do O_DIRECT */)
        {
            return (File.OpenHandle(path, mode, FileAccess.Write, FileShare.None), false);
        }
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string reason = Marshal.GetPInvokeErrorMessage(errno);
            throw errno switch
            {
                13 or 1 => new UnauthorizedAccessException($"Cannot create '{path}': {reason}."),
                17 => new IOException($"'{path}' already exists."),
                2 or 20 => new DirectoryNotFoundException($"Cannot create '{path}': {reason}."),
                _ => new IOException($"Cannot create '{path}': {reason}."),
            };
        }
        return (new SafeFileHandle(fd, ownsHandle: true), true);
    }

    /// <summary>O_DIRECT's value differs between architectures; 0 where it is not known here (buffered writes).</summary>
    private static int DirectFlag => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenFile(string path, int flags, int mode);
}
