using Blueback.IO;
using Blueback.Storage.Paging;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Storage.Backup;

/// <summary>Reads a database's pages for a backup: from the page cache when most of a range is there, otherwise
/// from the disk around the cache (O_DIRECT), in windows read ahead of the stream. Why: a backup reads every page
/// once, and pages not in the cache would first be copied into fresh cache pages, which on the machines measured here
/// costs far more CPU than the disk's own work (2 GB not cached: 4.8 s of kernel CPU buffered, 0.14 s direct;
/// docs/benchmarks.md) and evicts the server's working set. Each read, cached or direct, runs under the file's
/// range lock, so no flush tears a page in it; like any read here, what it returns may be older than the disk a
/// moment later, which the set's logs cover. Where the kernel cannot say what is cached (before Linux 6.5) or the
/// file system refuses O_DIRECT, every read goes through the cache.</summary>
/// <param name="file">The database's file.</param>
/// <param name="end">Where the stream's reads end (bytes into the file): nothing past it is read ahead.</param>
internal sealed class UncachedPageReader(DatabaseFile file, long end = long.MaxValue) : IDisposable
{
    /// <summary>Bytes per direct read.</summary>
    private const int WindowBytes = DirectFileWriter.StagingSize; // a staging buffer each

    /// <summary>Windows in flight or ready: 16 MiB, more than a chunk. The stream stops reading while it hashes and
    /// compresses a chunk (8 MiB); with two windows the disk then had one 4 MiB read to do and waited, so a cold backup
    /// took the disk's time plus the CPU's instead of the longer of the two.</summary>
    private const int WindowsAhead = 4;
    private static readonly TimeSpan ReadBound = TimeSpan.FromSeconds(60);
    private SafeFileHandle? _direct;
    private bool _buffered = !DirectFileReader.Possible;
    private readonly Queue<Window> _windows = new(); // the first is the current one
    private long _ahead; // where the next window to read ahead starts
    private Task _lastLoad = Task.CompletedTask; // windows are read one after another: one pool thread per stream
    private volatile bool _disposed;

    /// <summary>Bytes read from the disk around the cache so far (tests, diagnostics).</summary>
    public long DirectBytes { get; private set; }

    /// <summary>Reads pages <paramref name="first"/> onwards into <paramref name="into"/> (a whole number of pages);
    /// past the file's end, zeros.</summary>
    public void Read(uint first, Span<byte> into)
    {
        file.Faults?.Before(IoOperation.DatabaseRead, file.Path);
        long offset = (long)first * file.PageSize;
        try
        {
            if (FromWindows(offset, into))
            {
                return;
            }
            DropWindows(); // not where the stream was: start again from here
            if (!_buffered && FileSystem.MostlyCached(file.Handle, offset, into.Length) is false && Direct() is not null)
            {
                StartAt(offset);
                if (!FromWindows(offset, into))
                {
                    throw new InvalidOperationException("A window read ahead does not hold the range it was read for."); // cannot happen
                }
                return;
            }
        }
        catch (IOException ex) when (!_buffered)
        {
            // O_DIRECT taken at open but refused at read time (EINVAL on some FUSE file systems), or a direct read that
            // failed: through the cache from here on, which reports a real disk error itself. Said once.
            _buffered = true;
            DropWindows();
            FellBack?.Invoke(ex.Message);
        }
        ReadCached(first, into);
    }

    /// <summary>Reads the pages through the page cache, under the file's range lock: where the direct path cannot
    /// go, and for a second look at a page that failed its check on it (<see cref="VerifiedPageReads"/>), so that a
    /// page is never called damaged on what one path alone returned.</summary>
    public void ReadCached(uint first, Span<byte> into)
    {
        lock (file.RangeLock)
        {
            file.ReadRaw(first, into);
        }
    }

    /// <summary>Hears, once, why reads around the cache stopped and went through it (the failure's message).</summary>
    public Action<string>? FellBack { get; init; }

    /// <summary>Copies the range from the windows read ahead, moving on to the next window (and reading the one after
    /// it) as the range runs past the current one. False when the range does not start in the current window.</summary>
    private bool FromWindows(long offset, Span<byte> into)
    {
        if (offset < _ahead && _windows.TryPeek(out var first) && first.Offset + WindowBytes <= offset)
        {
            // The stream passed over what these windows hold (a full skipping unchanged pages) to a place already read
            // ahead: it goes on from there.
            while (_windows.Peek().Offset + WindowBytes <= offset)
            {
                _windows.Dequeue().FreeWhenRead();
            }
            ReadAhead();
        }
        if (!_windows.TryPeek(out var current) || offset < current.Offset || offset >= current.Offset + WindowBytes)
        {
            return false;
        }
        while (into.Length > 0)
        {
            if (!_windows.TryPeek(out var w))
            {
                StartAt(offset); // past the stream's end (a read the stream never makes): as at a new place
                w = _windows.Peek();
            }
            w.Wait();
            int at = (int)(offset - w.Offset), n = Math.Min(into.Length, WindowBytes - at);
            w.Span.Slice(at, n).CopyTo(into);
            DirectBytes += n;
            into = into[n..];
            offset += n;
            if (offset == w.Offset + WindowBytes)
            {
                // The window is used up: the next one becomes current, and one more starts reading (within the stream).
                _windows.Dequeue().Free();
                ReadAhead();
            }
        }
        return true;
    }

    /// <summary>Starts reading at <paramref name="offset"/>, and ahead of it within the stream.</summary>
    private void StartAt(long offset)
    {
        _windows.Enqueue(Load(offset));
        _ahead = offset + WindowBytes;
        ReadAhead();
    }

    private void ReadAhead()
    {
        while (_windows.Count < WindowsAhead && _ahead < end)
        {
            _windows.Enqueue(Load(_ahead));
            _ahead += WindowBytes;
        }
    }

    /// <summary>Starts reading a window on the pool once the one before it is read (the disk works while the stream
    /// sends the one before). One after another, not all at once: each read holds the file's range lock, so windows
    /// started together would only park pool threads on it.</summary>
    private Window Load(long offset)
    {
        var w = new Window(offset);
        var direct = _direct!;
        w.Loaded = _lastLoad.ContinueWith(_ =>
        {
            if (_disposed)
            {
                throw new ObjectDisposedException(nameof(UncachedPageReader)); // the stream closed: nothing more to read
            }
            lock (file.RangeLock)
            {
                file.Faults?.Before(IoOperation.DatabaseDirectRead, file.Path);
                w.Fill(direct);
                file.Faults?.After(IoOperation.DatabaseDirectRead, w.Span);
            }
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        _lastLoad = w.Loaded;
        return w;
    }

    /// <summary>Drops what was read ahead: the next read goes to the file again (a page that failed its check).</summary>
    public void Forget() => DropWindows();

    private void DropWindows()
    {
        while (_windows.TryDequeue(out var w))
        {
            w.FreeWhenRead();
        }
    }

    /// <summary>A second, O_DIRECT handle on the file, opened at the first read that wants it; null (and reads
    /// through the cache from then on) where the file system refuses it.</summary>
    private SafeFileHandle? Direct()
    {
        if (_direct is null)
        {
            _direct = DirectFileReader.TryOpenDirect(file.Path);
            if (_direct is null)
            {
                _buffered = true; // EINVAL (no O_DIRECT here) or anything else: the cache path reports real errors
                return null;
            }
        }
        return _direct;
    }

    public void Dispose()
    {
        _disposed = true;
        DropWindows();
        _direct?.Dispose(); // a read still in flight holds its own reference to the handle
    }

    /// <summary>One aligned buffer being read, or read, from the disk.</summary>
    private sealed unsafe class Window(long offset)
    {
        private nint _buffer = DirectFileWriter.RentStaging();

        public long Offset { get; } = offset;
        public Task Loaded { get; set; } = Task.CompletedTask;
        public Span<byte> Span => new((void*)_buffer, WindowBytes);

        public void Fill(SafeFileHandle direct)
        {
            var span = Span;
            int total = 0;
            while (total < span.Length)
            {
                int n = RandomAccess.Read(direct, span[total..], Offset + total);
                if (n == 0)
                {
                    span[total..].Clear(); // past the end of the file: pages never written
                    return;
                }
                total += n;
            }
        }

        /// <summary>Waits for the read, at most <see cref="ReadBound"/> (a disk that stops answering fails the backup
        /// instead of holding it); its failure is the caller's (the image's read fails, naming the pages).</summary>
        public void Wait()
        {
            try
            {
                if (!Loaded.Wait(ReadBound))
                {
                    throw new IOException($"reading 4 MiB at offset {Offset:N0} took more than {ReadBound.TotalSeconds:0} s");
                }
            }
            catch (AggregateException ex)
            {
                var inner = ex.InnerException ?? ex;
                throw new IOException($"the read ahead at offset {Offset:N0} failed: {inner.Message}", inner);
            }
        }

        public void Free()
        {
            var buffer = Interlocked.Exchange(ref _buffer, 0);
            if (buffer != 0)
            {
                DirectFileWriter.ReturnStaging(buffer);
            }
        }

        /// <summary>Gives the buffer back once no read can still be writing into it (never freed under a read in flight),
        /// without waiting for it: a stream that moves elsewhere, or closes, does not wait on the disk.</summary>
        public void FreeWhenRead()
        {
            if (Loaded.IsCompleted)
            {
                Free();
            }
            else
            {
                _ = Loaded.ContinueWith(_ => Free(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
    }
}
