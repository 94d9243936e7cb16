using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Blueback.IO;

/// <summary>Reads a whole file around the page cache (O_DIRECT on Linux): for repository chunks, which a restore or
/// a verify reads once. A buffered read of data not in the cache fills fresh page-cache pages first, and on the
/// machines measured here that costs far more than the disk itself (dd of 2 GB not in the cache: 5.0 s with 4.8 s of
/// kernel CPU buffered, 2.2 s with 0.14 s direct; docs/benchmarks.md). Into a block-aligned destination the blocks go
/// straight from the disk; the last partial block, or a destination that is not aligned, goes through an aligned
/// staging buffer. Where the file system refuses O_DIRECT (tmpfs) the same code reads through the cache.</summary>
public static class DirectFileReader
{
    private const int Alignment = DirectFileWriter.Alignment;

    /// <summary>Reads the file at <paramref name="path"/> into <paramref name="into"/>, up to its length; returns the
    /// file's length when all of it (or as much as fits) was read, otherwise the bytes read.</summary>
    public static unsafe long ReadFile(string path, Span<byte> into)
    {
        using var handle = Open(path);
        long length = RandomAccess.GetLength(handle);
        int want = (int)Math.Min(length, into.Length);
        int done = 0;
        fixed (byte* destination = into)
        {
            int body = (nint)destination % Alignment == 0 ? want / Alignment * Alignment : 0;
            done = ReadFully(handle, path, into[..body], 0);
            if (done == body && body < want)
            {
                nint staging = DirectFileWriter.RentStaging();
                try
                {
                    var buffer = new Span<byte>((void*)staging, DirectFileWriter.StagingSize);
                    while (done < want)
                    {
                        int ask = (Math.Min(buffer.Length, want - done) + Alignment - 1) / Alignment * Alignment;
                        int n = Math.Min(ReadFully(handle, path, buffer[..ask], done), want - done);
                        buffer[..n].CopyTo(into[done..]);
                        done += n;
                        if (n < ask)
                        {
                            break; // the end of the file (or of what was wanted)
                        }
                    }
                }
                finally
                {
                    DirectFileWriter.ReturnStaging(staging);
                }
            }
        }
        return done == want ? length : done;
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the file ends.</summary>
    private static int ReadFully(SafeFileHandle handle, string path, Span<byte> buffer, long offset)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n;
            try
            {
                n = RandomAccess.Read(handle, buffer[done..], offset + done);
            }
            catch (IOException ex)
            {
                throw new IOException($"Reading '{path}' at offset {offset + done:N0} failed: {ex.Message}", ex);
            }
            if (n == 0)
            {
                break;
            }
            done += n;
        }
        return done;
    }

    private static SafeFileHandle Open(string path) =>
        // Where O_DIRECT is refused (EINVAL) the read goes through the cache; any other failure gets the framework's
        // own open, whose exceptions (not found, denied) name the path.
        TryOpenDirect(path) ?? File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);

    /// <summary>Whether this platform can open files for O_DIRECT at all (Linux, with a known flag value).</summary>
    public static bool Possible => OperatingSystem.IsLinux() && DirectFileWriter.DirectFlag != 0;

    /// <summary>A read-only O_DIRECT handle on <paramref name="path"/>, or null where it cannot be had (not Linux, a
    /// file system without O_DIRECT, or any failure to open, which a buffered open then reports).</summary>
    public static SafeFileHandle? TryOpenDirect(string path)
    {
        if (!Possible)
        {
            return null;
        }
        int fd = DirectFileWriter.OpenFile(path, 0x0 /* O_RDONLY */ | 0x80000 /* O_CLOEXEC */ | DirectFileWriter.DirectFlag, 0);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }
}
