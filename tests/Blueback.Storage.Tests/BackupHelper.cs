using System.Runtime.InteropServices;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Restore;

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
    /// <summary>The last generation the backup lists: GenLow - 1 when it holds none (an idle instance).</summary>
    public uint GenHigh { get; set; }
    public Signature LogSignature { get; set; }
    /// <summary>For a chain: the last generation of the full set (the images are consistent after it).</summary>
    public uint ConsistentAfter { get; set; }

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
        media.GenHigh = Math.Max(media.GenHigh, b.GenHigh!.Value);
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

    /// <summary>Restores into <paramref name="directory"/> the product's way (images and logs in place, a restore
    /// record, hard recovery) and opens the result.</summary>
    public StorageInstance Restore(string directory, InstanceOptions options, RecoveryStop? stop = null, bool playForward = true, Action<string>? progress = null, CancellationToken token = default)
    {
        WriteRestore(directory, stop, playForward);
        HardRecovery.Run(directory, options, progress, token);
        return StorageInstance.Open(directory, options);
    }

    /// <summary>The restore's files and record, without recovery (a standby takes it from there).</summary>
    public void WriteRestore(string directory, RecoveryStop? stop = null, bool playForward = true)
    {
        var logDir = Path.Combine(directory, StorageInstance.LogDirectoryName);
        Directory.CreateDirectory(logDir);
        var record = new RestoreRecord
        {
            GenLow = GenLow,
            GenHigh = GenHigh,
            ConsistentAfter = ConsistentAfter,
            LogSignature = LogSignature,
            Stop = stop?.ToString(),
            PlayForward = playForward,
            Created = DateTime.UtcNow,
        };
        foreach (var (name, (image, _)) in Images)
        {
            var rel = name + StorageInstance.DatabaseExtension;
            File.WriteAllBytes(Path.Combine(directory, rel), image);
            record.Databases.Add(RestoreTarget.DescribeImage(directory, rel, name));
        }
        uint expected = GenLow;
        foreach (var (g, bytes) in Logs)
        {
            Assert.Equal(expected++, g); // contiguous
            File.WriteAllBytes(LogFiles.PathOf(logDir, g), bytes);
        }
        record.Write(directory);
    }
}
