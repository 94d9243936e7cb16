using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Server;

/// <summary>A data directory that another server holds (its lock file is locked): the message names the directory and
/// the process holding it.</summary>
public sealed class DataDirectoryInUseException(string message) : IOException(message);

/// <summary>One server per data directory: an exclusive lock (flock, which the operating system drops when the process
/// dies, so a crash never leaves the directory locked) on DATA/<see cref="FileName"/>, taken before the server creates
/// anything in the directory and held for the server's life. The file holds the holder's process id, so that a second
/// server can say who holds it. (The instances' own locks kept two servers from opening one instance, but a second
/// server on the same directory still started, took over the internal socket and answered the first one's policy jobs.)</summary>
public sealed partial class DataDirectoryLock : IDisposable
{
    /// <summary>The lock file's name, under the data directory: it starts with a dot, which no instance name does.</summary>
    public const string FileName = ".server.lock";

    private readonly FileStream _file;

    private DataDirectoryLock(string directory, FileStream file)
    {
        Directory = directory;
        _file = file;
    }

    /// <summary>The data directory held, as a full path.</summary>
    public string Directory { get; }

    /// <summary>Creates the directory if need be and locks it, or throws <see cref="DataDirectoryInUseException"/>
    /// naming the directory and the process that holds it.</summary>
    public static DataDirectoryLock Acquire(string dataDirectory)
    {
        var directory = Path.GetFullPath(dataDirectory);
        if (File.Exists(directory))
        {
            throw new DataDirectoryInUseException($"Data directory '{directory}' is a file, not a directory. Give --data a directory (it is created if missing).");
        }
        System.IO.Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        FileStream file;
        try
        {
            // FileShare.None is an exclusive, non-blocking flock on Unix (as InstanceLock takes).
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
        {
            var holder = Holder(path);
            throw new DataDirectoryInUseException($"Data directory '{directory}' is in use by another Blueback server ({(holder is null ? "a process" : $"PID {holder}")} holds {path} locked). One server per data directory: stop that server first, or give this one another --data directory.");
        }
        file.SetLength(0);
        file.Write(Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n"));
        file.Flush();
        return new DataDirectoryLock(directory, file);
    }

    /// <summary>The process id written in a held lock file (read around the runtime's own shared lock, which the
    /// holder's exclusive one would refuse), or null if it cannot be read.</summary>
    private static int? Holder(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }
        int fd = OpenReadOnly(path, 0);
        if (fd < 0)
        {
            return null;
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var buffer = new byte[32];
        int n = RandomAccess.Read(handle, buffer, 0);
        return int.TryParse(Encoding.ASCII.GetString(buffer, 0, n).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
    }

    /// <summary>The address of the internal Unix socket the server's own programs reach it on. On Linux, a name in the
    /// abstract namespace (no file: nothing in DATA/run for another process to remove or take over, and it binds on any
    /// file system, FUSE included), made of the data directory's real path's digest and a random part, so no other
    /// process can guess or squat it; written <c>@name</c> in a <c>unix:</c> address. Elsewhere DATA/run/server.sock,
    /// which only the holder of this lock uses.</summary>
    public string InternalSocketName()
    {
        if (OperatingSystem.IsLinux())
        {
            var identity = SHA256.HashData(Encoding.UTF8.GetBytes(RealPath(Directory)));
            return $"@blueback-{Convert.ToHexStringLower(identity)[..16]}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}";
        }
        var run = Path.Combine(Directory, "run");
        System.IO.Directory.CreateDirectory(run);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(run, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var socket = Path.Combine(run, "server.sock");
        if (File.Exists(socket))
        {
            File.Delete(socket); // left by a server that is gone: this one holds the directory's lock
        }
        return socket;
    }

    /// <summary>The endpoint of a Unix socket name: <c>@name</c> is Linux's abstract namespace, anything else a path.</summary>
    public static EndPoint UnixEndPoint(string name) => new UnixDomainSocketEndPoint(name.StartsWith('@') ? "\0" + name[1..] : name);

    private static string RealPath(string path)
    {
        nint resolved = RealPathNative(path, 0);
        if (resolved == 0)
        {
            return path;
        }
        try
        {
            return Marshal.PtrToStringUTF8(resolved) ?? path;
        }
        finally
        {
            Free(resolved);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenReadOnly(string path, int flags);

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint RealPathNative(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);

    /// <summary>Releases the lock (the file stays: removing it would let a third server lock a new file while a second
    /// still waits on the old one).</summary>
    public void Dispose() => _file.Dispose();
}
