using System.Runtime.InteropServices;

namespace Blueback.IO;

public static partial class FileSystem
{
    private const int Eexist = 17;
    private const int AtFdCwd = -100;
    private const uint RenameNoReplace = 1;

    /// <summary>Gives the whole, flushed file <paramref name="source"/> the name <paramref name="destination"/> only if
    /// no file has that name, in one atomic step; false when the name is taken (then <paramref name="source"/> is left
    /// as it was). <see cref="File.Move(string, string, bool)"/> without overwrite is not this: on Unix it checks that
    /// the name is free and then renames, so two callers at once can both "create" it, the later replacing the earlier
    /// (found on a FUSE file system, where the gap is widest: two backups' commits both took one chain entry's number).
    /// A hard link is tried first (the oldest atomic create-only, which NFS and FUSE carry too), then
    /// <c>renameat2(RENAME_NOREPLACE)</c> where the file system has no hard links.</summary>
    public static bool TryMoveNew(string source, string destination)
    {
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                File.Move(source, destination, overwrite: false);
                return true;
            }
            catch (IOException) when (File.Exists(destination))
            {
                return false;
            }
        }
        if (Link(source, destination) == 0)
        {
            File.Delete(source);
            return true;
        }
        int linkError = Marshal.GetLastPInvokeError();
        if (linkError == Eexist)
        {
            return false;
        }
        if (Renameat2(AtFdCwd, source, AtFdCwd, destination, RenameNoReplace) == 0)
        {
            return true;
        }
        int renameError = Marshal.GetLastPInvokeError();
        if (renameError == Eexist)
        {
            return false;
        }
        throw new IOException($"Cannot create '{destination}' only if absent: the file system refused both a hard link " +
            $"({Marshal.GetPInvokeErrorMessage(linkError)}) and a rename that does not replace " +
            $"({Marshal.GetPInvokeErrorMessage(renameError)}). Blueback needs one of them to add files that must never " +
            "be replaced; put this directory on a file system that has either (ext4, XFS, btrfs, tmpfs, NFS and most FUSE file systems do).");
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Renameat2(int oldDirectory, string oldPath, int newDirectory, string newPath, uint flags);
}
