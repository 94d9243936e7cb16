using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Recovery;

namespace Blueback.Storage.Restore;

/// <summary>The instance directory a restore writes into: what may be there before, and how restored files are
/// described in the restore record.</summary>
public static class RestoreTarget
{
    /// <summary>Makes <paramref name="dir"/> ready to receive a restore. An empty or missing directory is fine; an
    /// unfinished restore is cleared (restarted from the beginning); a live or restored instance is refused unless
    /// <paramref name="replace"/>, which keeps its log directory (so play-forward can use its later logs) and moves its
    /// database files and checkpoint into a folder beside them rather than deleting them.</summary>
    public static void Prepare(string dir, bool replace, bool keepDatabases = false)
    {
        dir = Path.GetFullPath(dir);
        System.IO.Directory.CreateDirectory(dir);
        var record = RestoreRecord.Read(dir);
        bool holdsInstance = File.Exists(Path.Combine(dir, CheckpointFile.FileName)) || System.IO.Directory.EnumerateFiles(dir, "*" + StorageInstance.DatabaseExtension).Any();
        if (record is { Status: not RestoreStatus.Done })
        {
            // An interrupted restore: its files are ours to replace (the logs included, unless they are live logs
            // kept by a replace). A delta restore patches what is there, half-patched or not.
            foreach (var f in keepDatabases ? [] : System.IO.Directory.EnumerateFiles(dir, "*" + StorageInstance.DatabaseExtension))
            {
                File.Delete(f);
            }
            File.Delete(Path.Combine(dir, CheckpointFile.FileName));
            return;
        }
        if (!holdsInstance)
        {
            return;
        }
        if (!replace)
        {
            throw new RestoreException($"'{dir}' already holds an instance. Restore into an empty directory, or replace it on purpose (--replace; its database files are moved aside, its logs kept for play-forward).");
        }
        var aside = FileSystem.CreateAsideDirectory(dir, "replaced-");
        // A delta restore keeps the database files where they are: they are what it patches.
        foreach (var f in keepDatabases ? [] : System.IO.Directory.EnumerateFiles(dir, "*" + StorageInstance.DatabaseExtension))
        {
            File.Move(f, Path.Combine(aside, Path.GetFileName(f)));
        }
        foreach (var name in new[] { CheckpointFile.FileName, RestoreRecord.FileName })
        {
            if (File.Exists(Path.Combine(dir, name)))
            {
                File.Move(Path.Combine(dir, name), Path.Combine(aside, name));
            }
        }
        FileSystem.SyncDirectory(dir);
    }

    /// <summary>Describes a database image written into the directory, from its header and trailer.</summary>
    public static RestoredDatabase DescribeImage(string dir, string relativePath, string name) => DescribeImage(dir, relativePath, name, out _);

    /// <summary>Also gives the log stream the image's trailer names (a set may hold no log at all, when nothing was
    /// written between its checkpoint and its end).</summary>
    public static RestoredDatabase DescribeImage(string dir, string relativePath, string name, out Signature logSignature, IPageStores? stores = null)
    {
        var path = Path.Combine(dir, relativePath);
        using var file = DatabaseFile.Open(path, writable: false, stores);
        var h = file.ReadHeader();
        long pages = file.Length / file.PageSize;
        if (pages < 3)
        {
            throw new RestoreException($"'{path}' holds {pages} pages: it is not a database image. Restore it again.");
        }
        var page = new byte[file.PageSize];
        file.ReadRaw((uint)(pages - 1), page);
        var t = MemoryMarshal.Read<BackupTrailer>(page);
        if (t.Magic != BackupTrailer.MagicValue || !Checksum.VerifyPage(page, (uint)(pages - 1)))
        {
            throw new RestoreException($"'{path}' has no valid backup trailer on its last page ({pages - 1}): the image is truncated or damaged. Restore it again from a set that 'blueback verify' passes.");
        }
        logSignature = t.LogSignature;
        return new RestoredDatabase { Id = t.DatabaseId, Name = name, Path = relativePath, Signature = h.DatabaseSignature };
    }

    /// <summary>Makes the names of the files written into the directory and its log directory durable.</summary>
    public static void SyncDirectories(string dir)
    {
        FileSystem.SyncDirectory(Path.Combine(dir, StorageInstance.LogDirectoryName));
        FileSystem.SyncDirectory(dir);
    }

}
