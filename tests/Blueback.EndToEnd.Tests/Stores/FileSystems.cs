namespace Blueback.EndToEnd.Tests.Stores;

/// <summary>A file system mounted for a test class (root: loop devices, mount, FUSE), with the repository, the
/// server's data directory and the restore targets all on it. Made by <see cref="Mount"/>, removed at the end
/// (lazily unmounted, so a process a failed test left behind cannot keep the mount).</summary>
public abstract class FileSystemUnderTest : LocalStoreUnderTest
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), $"bb-fs-{Guid.NewGuid():N}");
    private bool _mounted;

    /// <summary>The file system's name, for messages.</summary>
    public abstract string Name { get; }

    /// <summary>Where it is mounted.</summary>
    protected string MountPoint => Path.Combine(_work, "mnt");

    /// <summary>A scratch path beside the mount (an image file, a FUSE file system's backing directory).</summary>
    protected string Beside(string name) => Path.Combine(_work, name);

    protected override string Under
    {
        get
        {
            if (!_mounted)
            {
                Directory.CreateDirectory(MountPoint);
                try
                {
                    Mount();
                }
                catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    throw new InvalidOperationException($"Could not mount {Name} for the file-system tests (they need root, loop devices, FUSE and " +
                        $"Debian's xfsprogs btrfs-progs bindfs, which ./test stress installs): {e.Message}", e);
                }
                _mounted = true;
                var type = FileSystemOf(MountPoint);
                Assert.True(type == ExpectedType || type.StartsWith(ExpectedType + ".", StringComparison.Ordinal), $"{MountPoint} is {type}, not {ExpectedType}: the mount did not take");
            }
            return MountPoint;
        }
    }

    /// <summary>The type /proc/self/mounts shows for the mount.</summary>
    protected abstract string ExpectedType { get; }

    /// <summary>Makes and mounts the file system at <see cref="MountPoint"/>.</summary>
    protected abstract void Mount();

    /// <summary>Unmounts it (lazily: whatever still holds a file there lets go when it ends; FUSE too, as root).</summary>
    private void Unmount() => NetworkNamespace.Run("umount", "-l", MountPoint);

    public override void Dispose()
    {
        base.Dispose();
        if (_mounted)
        {
            Unmount();
        }
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
            // Still busy: the OS temp clean-up takes it later.
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>The type of the file system <paramref name="path"/> is on: the longest mount point above it.</summary>
    internal static string FileSystemOf(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/') + "/";
        return File.ReadAllLines("/proc/self/mounts")
            .Select(l => l.Split(' '))
            .Where(f => f.Length > 2 && full.StartsWith(f[1].Replace("\\040", " ", StringComparison.Ordinal).TrimEnd('/') + "/", StringComparison.Ordinal))
            .OrderByDescending(f => f[1].Length)
            .Select(f => f[2])
            .First();
    }
}

/// <summary>A block file system on a loop device: a sparse image file, made with mkfs, mounted with -o loop.</summary>
public abstract class LoopFileSystem : FileSystemUnderTest
{
    /// <summary>The mkfs command and its arguments (the image's path follows).</summary>
    protected abstract string[] Mkfs { get; }

    protected override void Mount()
    {
        var image = Beside("image");
        using (var f = File.Create(image))
        {
            f.SetLength(1L << 30); // sparse: takes only what is written
        }
        NetworkNamespace.Run(Mkfs[0], [.. Mkfs[1..], image]);
        NetworkNamespace.Run("mount", "-o", "loop", image, MountPoint);
    }
}

public sealed class Ext4FileSystem : LoopFileSystem
{
    public override string Name => "ext4";

    protected override string ExpectedType => "ext4";

    protected override string[] Mkfs => ["mkfs.ext4", "-q", "-F"];
}

public sealed class XfsFileSystem : LoopFileSystem
{
    public override string Name => "XFS";

    protected override string ExpectedType => "xfs";

    protected override string[] Mkfs => ["mkfs.xfs", "-q", "-f"];
}

public sealed class BtrfsFileSystem : LoopFileSystem
{
    public override string Name => "btrfs";

    protected override string ExpectedType => "btrfs";

    protected override string[] Mkfs => ["mkfs.btrfs", "-q", "-f"];
}

/// <summary>tmpfs: memory, no O_DIRECT (the server and the repository fall back to buffered reads and writes).</summary>
public sealed class TmpfsFileSystem : FileSystemUnderTest
{
    public override string Name => "tmpfs";

    protected override string ExpectedType => "tmpfs";

    protected override void Mount() => NetworkNamespace.Run("mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", MountPoint);
}

/// <summary>A FUSE file system: bindfs mirroring a directory beside the mount (no O_DIRECT through it, Unix sockets
/// refused: where the server once failed to start, binding its internal socket in the data directory).</summary>
public sealed class FuseFileSystem : FileSystemUnderTest
{
    public override string Name => "FUSE (bindfs)";

    protected override string ExpectedType => "fuse";

    protected override void Mount()
    {
        Directory.CreateDirectory(Beside("backing"));
        NetworkNamespace.Run("bindfs", "--no-allow-other", Beside("backing"), MountPoint);
    }
}
