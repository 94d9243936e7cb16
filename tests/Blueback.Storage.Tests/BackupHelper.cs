using System.Runtime.InteropServices;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Recovery;

namespace Blueback.Storage.Tests;

using Xunit;

/// <summary>Test-side backup media and a minimal restore: write the images as database files, put the logs in
/// place, build a checkpoint at the set's first generation, and let soft recovery replay them. (The restore
/// issue builds the product path with its checks; this is enough to prove the backup consistent.)</summary>
internal sealed class BackupMedia
{
    public Dictionary<string, (byte[] Image, BackupDatabase? Info)> Images { get; } = new();
    public SortedDictionary<uint, byte[]> Logs { get; } = new();
    public uint GenLow { get; set; } = uint.MaxValue;
    public Signature LogSignature { get; set; }

    /// <summary>Runs a whole backup of <paramref name="type"/>, reading in small pieces so writers interleave.</summary>
    public static BackupMedia Take(StorageInstance inst, BackupType type, BackupMedia? into = null, bool truncate = true, Action? between = null)
    {
        var media = into ?? new BackupMedia();
        var b = inst.BeginBackup(type);
        media.LogSignature = inst.LogSignature;
        media.GenLow = Math.Min(media.GenLow, b.GenLow);
        foreach (var db in b.Databases.Where(_ => type.IncludesDatabases()))
        {
            using var s = b.OpenDatabaseImage(db.Name);
            media.Images[db.Name] = (ReadAll(s, between), db);
        }
        foreach (var log in b.ListLogs())
        {
            using var s = b.OpenLog(log.Generation);
            media.Logs[log.Generation] = ReadAll(s, null);
        }
        if (truncate && type.Truncates())
        {
            b.Truncate();
        }
        b.End();
        return media;
    }

    private static byte[] ReadAll(Stream s, Action? between)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = s.Read(buffer)) > 0)
        {
            ms.Write(buffer, 0, n);
            between?.Invoke();
        }
        Xunit.Assert.Equal(s.Length, ms.Length);
        return ms.ToArray();
    }

    /// <summary>Restores into <paramref name="directory"/> and opens it (soft recovery replays the logs).</summary>
    public StorageInstance Restore(string directory, InstanceOptions options)
    {
        Directory.CreateDirectory(Path.Combine(directory, StorageInstance.LogDirectoryName));
        var attached = new List<AttachedDatabase>();
        foreach (var (name, (image, _)) in Images)
        {
            int ps = (int)MemoryMarshal.Read<DatabaseHeader>(image).PageSize;
            var trailer = MemoryMarshal.Read<BackupTrailer>(image.AsSpan(image.Length - ps));
            Assert.Equal(BackupTrailer.MagicValue, trailer.Magic);
            Assert.True(Checksum.VerifyPage(image.AsSpan(image.Length - ps), trailer.PageCount));
            Assert.Equal(LogSignature, trailer.LogSignature);
            Assert.True(trailer.GenHigh <= Logs.Keys.Max(), $"the image of {name} needs generation {trailer.GenHigh}, the set ends at {Logs.Keys.Max()}");
            var header = MemoryMarshal.Read<DatabaseHeader>(image);
            Assert.Equal(trailer.DatabaseSignature, header.DatabaseSignature);
            Assert.Equal(GenLow, header.CurrentBackup.GenLow);
            File.WriteAllBytes(Path.Combine(directory, name + StorageInstance.DatabaseExtension), image.AsSpan(0, image.Length - ps).ToArray());
            attached.Add(new AttachedDatabase(trailer.DatabaseId, header.DatabaseSignature, name + StorageInstance.DatabaseExtension));
        }
        uint expected = GenLow;
        foreach (var (g, bytes) in Logs)
        {
            Assert.Equal(expected++, g); // contiguous
            File.WriteAllBytes(LogFiles.PathOf(Path.Combine(directory, StorageInstance.LogDirectoryName), g), bytes);
        }
        CheckpointFile.Write(Path.Combine(directory, CheckpointFile.FileName), LogSignature, new Lsn(GenLow, LogFileHeader.RegionSize), 1, attached);
        return StorageInstance.Open(directory, options);
    }
}
