using System.Runtime.InteropServices;

namespace Blueback.Bench;

/// <summary>Puts a tree of files in a known page-cache state before a timed run. On these VMs the kernel pages out
/// file pages idle for about 30 s (see docs/benchmarks.md, "The machine"), so without this a run's source is
/// partly cached by accident of timing, and a peer run a few seconds later finds a different state.</summary>
internal static partial class PageCache
{
    private const int DontNeed = 4; // POSIX_FADV_DONTNEED

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(int fd, long offset, long length, int advice);

    // libc's own open: .NET's takes a shared flock on every file it opens, which the server's exclusive lock on
    // its instance lock file refuses.
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>Writes back and then drops every file's pages: the next read of them comes from the disk.</summary>
    public static void Drop(string dir)
    {
        Shell.Run("sync");
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            int fd = Open(f, 0 /* O_RDONLY */);
            if (fd < 0)
            {
                throw new IOException($"open {f} failed with errno {Marshal.GetLastPInvokeError()}.");
            }
            int rc = Fadvise(fd, 0, 0, DontNeed);
            Close(fd);
            if (rc != 0)
            {
                throw new IOException($"posix_fadvise(DONTNEED) on {f} failed with {rc}.");
            }
        }
    }

    /// <summary>Reads every file through the page cache, so that the next reader finds all of it there.</summary>
    public static void Warm(string dir)
    {
        var buffer = new byte[1 << 20];
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            int fd = Open(f, 0 /* O_RDONLY */);
            if (fd < 0)
            {
                throw new IOException($"open {f} failed with errno {Marshal.GetLastPInvokeError()}.");
            }
            using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
            for (long at = 0; ;)
            {
                int n = RandomAccess.Read(handle, buffer, at);
                if (n == 0)
                {
                    break;
                }
                at += n;
            }
        }
    }

    /// <summary>Sets the cache state for the next run, after 5 s of quiet, so that no run inherits the one
    /// before's aftermath. The run before's output was just deleted: the root file system is mounted with
    /// `discard`, so its blocks may still be being trimmed, and the memory of its cached pages was just freed,
    /// which the next buffered writer gets cheaply for a moment and dearly once the guest has handed it back (see
    /// docs/benchmarks.md, "The machine").</summary>
    public static void Prepare(string dir, bool warm)
    {
        Shell.Run("sync");
        Thread.Sleep(TimeSpan.FromSeconds(5));
        if (warm)
        {
            Warm(dir);
        }
        else
        {
            Drop(dir);
        }
    }
}
