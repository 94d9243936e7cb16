using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Blueback.IO;

/// <summary>Writes a whole new file around the page cache (O_DIRECT on Linux), for the chunks of backup sets (the
/// repository links this file; restores write through the cache, as replay reads the pages next). Why: a buffered
/// write copies every byte into freshly allocated page-cache pages, which on the machines measured here costs more
/// than the disk itself (dd: about 320 MB/s buffered against 1,000 MB/s direct, docs/benchmarks.md), and a backup
/// that fills the page cache evicts the server's working set. Bytes aligned in memory are written as they are, others
/// through an aligned staging buffer; the last block is padded, then the length is cut back and the data flushed. Where the file system refuses O_DIRECT
/// (tmpfs) the same code writes through the page cache.</summary>
public static partial class DirectFileWriter
{
    public const int Alignment = 4096;
    public const int StagingSize = 4 << 20;
    private const int StagingKept = 16;

    // Staging buffers are kept for reuse: a fresh multi-megabyte allocation per file would fault in new pages every
    // time, which is the very cost direct writes avoid. One size only, so what is kept stays bounded.
    private static readonly ConcurrentBag<nint> Staging = new();

    /// <summary>Writes <paramref name="data"/> as the whole content of the file at <paramref name="path"/> (created,
    /// or truncated; with <paramref name="createNew"/>, an existing file is refused), flushed to disk. A file left
    /// by a failure part-way is its owner's to delete.</summary>
    public static unsafe void WriteFile(string path, ReadOnlySpan<byte> data, bool createNew = false)
    {
        using (var handle = Open(path, createNew))
        {
            if (data.Length > 0)
            {
                // Blocks reserved up front: few extents, and a full disk shows before the copy rather than in it.
                FileSystem.Reserve(handle, path, data.Length);
            }
            fixed (byte* source = data)
            {
                // A source already aligned in memory (the repository's chunk buffers are) goes to the disk as it is;
                // only the last, partial block goes through the staging buffer to be padded.
                int direct = (nint)source % Alignment == 0 ? data.Length / Alignment * Alignment : 0;
                if (direct > 0)
                {
                    Write(handle, path, data[..direct], 0);
                }
                if (direct < data.Length)
                {
                    Staged(handle, path, data[direct..], direct);
                }
            }
            try
            {
                // Always set: a padded tail wrote past the end, and the reservation may reach beyond it.
                RandomAccess.SetLength(handle, data.Length);
            }
            catch (IOException ex)
            {
                throw new IOException($"Setting the length of '{path}' to {data.Length:N0} bytes failed: {ex.Message}", ex);
            }
            FileSystem.DataSync(handle, path);
        }
    }

    /// <summary>Copies <paramref name="data"/> through an aligned staging buffer, padding its last block.</summary>
    private static unsafe void Staged(SafeFileHandle handle, string path, ReadOnlySpan<byte> data, long at)
    {
        nint staging = RentStaging();
        try
        {
            var buffer = new Span<byte>((void*)staging, StagingSize);
            for (int offset = 0; offset < data.Length; offset += StagingSize)
            {
                int n = Math.Min(StagingSize, data.Length - offset);
                data.Slice(offset, n).CopyTo(buffer);
                int padded = (n + Alignment - 1) / Alignment * Alignment;
                buffer[n..padded].Clear();
                Write(handle, path, buffer[..padded], at + offset);
            }
        }
        finally
        {
            ReturnStaging(staging);
        }
    }

    /// <summary>An aligned buffer of <see cref="StagingSize"/> bytes (also for <see cref="DirectFileReader"/>).</summary>
    public static unsafe nint RentStaging() => Staging.TryTake(out var kept) ? kept : (nint)NativeMemory.AlignedAlloc(StagingSize, Alignment);

    /// <summary>Gives back a buffer from <see cref="RentStaging"/>.</summary>
    public static unsafe void ReturnStaging(nint staging)
    {
        if (Staging.Count < StagingKept)
        {
            Staging.Add(staging);
        }
        else
        {
            NativeMemory.AlignedFree((void*)staging);
        }
    }

    internal static void Write(SafeFileHandle handle, string path, ReadOnlySpan<byte> bytes, long offset)
    {
        try
        {
            RandomAccess.Write(handle, bytes, offset);
        }
        catch (IOException ex)
        {
            throw new IOException($"Writing '{path}' at offset {offset:N0} failed: {ex.Message}", ex);
        }
    }

    internal static SafeFileHandle Open(string path, bool createNew)
    {
        var mode = createNew ? FileMode.CreateNew : FileMode.Create;
        if (!OperatingSystem.IsLinux() || DirectFlag == 0)
        {
            return OpenBuffered(path, mode);
        }
        int flags = 0x1 /* O_WRONLY */ | 0x40 /* O_CREAT */ | 0x80000 /* O_CLOEXEC */ | (createNew ? 0x80 /* O_EXCL */ : 0x200 /* O_TRUNC */);
        int fd = OpenFile(path, flags | DirectFlag, 0x1B6 /* 0666, less the umask */);
        if (fd < 0 && Marshal.GetLastPInvokeError() == 22 /* EINVAL: the file system does not do O_DIRECT */)
        {
            return OpenBuffered(path, mode);
        }
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string reason = Marshal.GetPInvokeErrorMessage(errno);
            throw errno switch
            {
                13 or 1 => new UnauthorizedAccessException($"Cannot create '{path}': {reason}."),
                17 => new FileExistsException(path),
                2 or 20 => new DirectoryNotFoundException($"Cannot create '{path}': {reason}."),
                _ => new IOException($"Cannot create '{path}': {reason}."),
            };
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static SafeFileHandle OpenBuffered(string path, FileMode mode)
    {
        try
        {
            return File.OpenHandle(path, mode, FileAccess.Write, FileShare.None);
        }
        catch (IOException) when (mode == FileMode.CreateNew && File.Exists(path))
        {
            throw new FileExistsException(path);
        }
    }

    /// <summary>O_DIRECT's value differs between architectures; 0 where it is not known here (buffered writes).</summary>
    internal static int DirectFlag => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int OpenFile(string path, int flags, int mode);
}

/// <summary>A file to be created new was already there (its creator is someone else: nothing of it was written).</summary>
public sealed class FileExistsException(string path) : IOException($"'{path}' already exists.")
{
    public string Path { get; } = path;
}
