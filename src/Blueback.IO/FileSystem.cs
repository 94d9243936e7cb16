using System.Runtime.InteropServices;

namespace Blueback.IO;

/// <summary>The few POSIX calls the framework does not expose.</summary>
public static partial class FileSystem
{
    /// <summary>Makes a create, rename or delete in <paramref name="directory"/> durable (fsync of the directory).</summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }
        var observed = PowerCut.Find(directory)?.BeforeDirectorySync(directory);
        int fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0)
        {
            throw new IOException($"Cannot open directory '{directory}' to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }
        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory '{directory}' failed (errno {Marshal.GetLastPInvokeError()}).");
            }
            observed?.Invoke();
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Creates a new directory in <paramref name="parent"/> named <paramref name="prefix"/> and the UTC time to
    /// the second, with "-2", "-3"... when that name is taken: what one operation sets aside is never mixed with, or
    /// written over, what another set aside in the same second (two in-place restores a second apart collided: "The
    /// file '…/replaced-…/public.bdb' already exists", a 500).</summary>
    public static string CreateAsideDirectory(string parent, string prefix)
    {
        var stamp = prefix + DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        for (int n = 1; ; n++)
        {
            var path = Path.Combine(parent, n == 1 ? stamp : $"{stamp}-{n}");
            if (!Directory.Exists(path) && !File.Exists(path))
            {
                Directory.CreateDirectory(path);
                return path;
            }
        }
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/> so that a crash leaves the old file or
    /// the new one, whole: a temporary file beside it, flushed, renamed over it, and the directory flushed.</summary>
    public static void WriteAtomic(string path, ReadOnlySpan<byte> bytes, string temporarySuffix = ".tmp")
    {
        var temp = path + temporarySuffix;
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write))
        {
            RandomAccess.Write(handle, bytes, 0);
            DataSync(handle, temp);
        }
        File.Move(temp, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Makes a file written before (and renamed into place) durable: its data flushed.</summary>
    public static void SyncFile(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        DataSync(handle, path);
    }

    /// <summary>fdatasync: the data of a preallocated file reaches the disk without a metadata flush.</summary>
    public static void DataSync(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            using var fs = new FileStream(handle, FileAccess.ReadWrite);
            fs.Flush(flushToDisk: true);
            return;
        }
        var observed = PowerCut.Find(path)?.BeforeFileSync(handle); // a simulated power cut's layer (tests), if any
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (Fdatasync((int)handle.DangerousGetHandle()) != 0)
            {
                throw new IOException($"fdatasync of '{path}' failed (errno {Marshal.GetLastPInvokeError()}).");
            }
            observed?.Invoke();
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Reserves <paramref name="length"/> bytes of blocks for a file about to be written, without changing its
    /// length (fallocate KEEP_SIZE): fewer extents, and a full disk shows before the copy rather than in its middle.
    /// File systems that cannot reserve are left to allocate as they write.</summary>
    public static void Reserve(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string path, long length)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (Fallocate((int)handle.DangerousGetHandle(), 1 /* FALLOC_FL_KEEP_SIZE */, 0, length) != 0
                && Marshal.GetLastPInvokeError() is 28 /* ENOSPC */ or 122 /* EDQUOT */)
            {
                throw new IOException($"There is not enough space for '{path}' ({length:N0} bytes): {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}. Free space or choose another location.");
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Asks the kernel to read a file range into the page cache in the background (POSIX_FADV_WILLNEED);
    /// a hint, ignored where there is no such call.</summary>
    public static void WillNeed(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, long length)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            _ = Fadvise((int)handle.DangerousGetHandle(), offset, length, 3 /* POSIX_FADV_WILLNEED */);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Bytes free (for an unprivileged user) and in total on the volume that holds <paramref name="path"/>
    /// (statvfs); (0, 0) where it cannot be told.</summary>
    public static unsafe (long Free, long Total) VolumeSpace(string path)
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
        {
            return (0, 0);
        }
        // struct statvfs on 64-bit Linux: f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, ... (8 bytes each).
        ulong* buf = stackalloc ulong[16];
        if (Statvfs(path, buf) != 0)
        {
            return (0, 0);
        }
        ulong frsize = buf[1] != 0 ? buf[1] : buf[0];
        return ((long)(buf[4] * frsize), (long)(buf[2] * frsize));
    }

    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statvfs(string path, ulong* buffer);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(int fd, long offset, long length, int advice);

    private static bool _noCachestat;

    /// <summary>Whether at least half of a file range is in the page cache with none of it dirty (Linux 6.5+
    /// cachestat, which only looks); null where the kernel cannot say.</summary>
    public static unsafe bool? MostlyCached(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, long length)
    {
        if (_noCachestat || !OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            return null;
        }
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            var range = new CachestatRange { Offset = (ulong)offset, Length = (ulong)length };
            Cachestat stat;
            if (Syscall(CachestatNumber, (int)handle.DangerousGetHandle(), &range, &stat, 0) != 0)
            {
                _noCachestat = true; // ENOSYS: an older kernel
                return null;
            }
            long pages = (length + Environment.SystemPageSize - 1) / Environment.SystemPageSize;
            return stat.Dirty > 0 || (long)stat.Cached * 2 >= pages;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>cachestat's number, the same on x86-64 and arm64 (the generic table).</summary>
    private const long CachestatNumber = 451;

    [StructLayout(LayoutKind.Sequential)]
    private struct CachestatRange
    {
        public ulong Offset;
        public ulong Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Cachestat
    {
        public ulong Cached;
        public ulong Dirty;
        public ulong Writeback;
        public ulong Evicted;
        public ulong RecentlyEvicted;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long Syscall(long number, int fd, CachestatRange* range, Cachestat* stat, uint flags);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int Fdatasync(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
