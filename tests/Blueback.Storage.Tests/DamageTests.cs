using Blueback.Storage.BTree;
using Blueback.Storage.Diagnostics;
using Blueback.Storage.Log;
using Blueback.Storage.Transactions;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>Torn pages, flipped bytes, torn log tails, damaged, missing and foreign generations.</summary>
public class DamageTests
{
    // No automatic checkpoint during these tests: recovery must replay everything from the start.
    private static readonly InstanceOptions NoCheckpoint = Small.Options with
    {
        CheckpointLogBytes = 1L << 40,
        CheckpointInterval = TimeSpan.FromDays(1),
    };

    private static uint TableRoot(StorageInstance inst, Database db, string table) =>
        Catalog.Find(new SnapshotView(inst.Cache, db, long.MaxValue), table)!.Value;

    private static void Fill(StorageInstance inst, Database db, int from, int count, int valueSize = 200)
    {
        for (int i = from; i < from + count; i++)
        {
            using var tx = inst.BeginWrite();
            tx.Put(db, "t", B($"key{i:D5}"), B($"value {i} " + new string('v', valueSize)));
            tx.Commit(valueSize > 200 ? CommitMode.Lazy : CommitMode.Durable);
        }
    }

    private static void Overwrite(string file, long offset, byte[] bytes)
    {
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Write);
        fs.Position = offset;
        fs.Write(bytes);
    }

    [Fact]
    public void A_torn_page_is_repaired_by_recovery_from_the_whole_image_in_the_log()
    {
        using var dir = new TempDir();
        uint root;
        string path;
        using (var inst = StorageInstance.Create(dir.Path, NoCheckpoint))
        {
            var db = inst.CreateDatabase("d");
            path = db.Path;
            Fill(inst, db, 0, 10);
            inst.Checkpoint(); // pages on disk; the next change to each page logs a whole image
            Fill(inst, db, 10, 10);
            root = TableRoot(inst, db, "t");
            inst.Abandon();
        }
        // The page is half new, half garbage: a write interrupted by power loss.
        var garbage = new byte[4096];
        new Random(3).NextBytes(garbage);
        Overwrite(path, (root * 8192L) + 4096, garbage);
        Assert.Contains(DatabaseCheck.Checksum(path).Bad, b => b.Page == root);

        using (var inst = StorageInstance.Open(dir.Path, NoCheckpoint))
        {
            var db = inst.GetDatabase("d");
            using var r = inst.BeginRead();
            Assert.Equal(20, r.Scan(db, "t").Count());
        }
        Assert.True(DatabaseCheck.Checksum(path).Ok);
    }

    [Fact]
    public void A_flipped_byte_outside_recovery_is_reported_by_checksum_and_by_a_read_naming_the_page()
    {
        using var dir = new TempDir();
        uint root;
        string path;
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            var db = inst.CreateDatabase("d");
            path = db.Path;
            Fill(inst, db, 0, 5);
            root = TableRoot(inst, db, "t");
        }
        var one = new byte[1];
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = (root * 8192L) + 5000;
            one[0] = (byte)(fs.ReadByte() ^ 0x10);
            fs.Position = (root * 8192L) + 5000;
            fs.Write(one);
        }
        var report = DatabaseCheck.Checksum(path);
        var bad = Assert.Single(report.Bad);
        Assert.Equal(root, bad.Page);
        Assert.Equal(PageProblem.ChecksumMismatch, bad.Problem);

        using var inst2 = StorageInstance.Open(dir.Path, Options);
        var db2 = inst2.GetDatabase("d");
        using var r = inst2.BeginRead();
        var ex = Assert.Throws<PageCorruptException>(() => r.Get(db2, "t", B("key00001")));
        Assert.Equal(root, ex.Page);
        Assert.Contains($"page {root}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_page_written_to_the_wrong_place_is_reported_as_a_wrong_page_number()
    {
        using var dir = new TempDir();
        string path;
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            var db = inst.CreateDatabase("d");
            path = db.Path;
            Fill(inst, db, 0, 5);
        }
        var page2 = new byte[8192];
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = 2 * 8192;
            fs.ReadExactly(page2);
            fs.Position = 3 * 8192;
            fs.Write(page2);
        }
        var bad = Assert.Single(DatabaseCheck.Checksum(path).Bad);
        Assert.Equal(3u, bad.Page);
        Assert.Equal(PageProblem.WrongPageNumber, bad.Problem);
    }

    [Fact]
    public void A_torn_log_tail_recovers_to_the_last_complete_commit()
    {
        using var dir = new TempDir();
        using (var inst = StorageInstance.Create(dir.Path, NoCheckpoint))
        {
            Fill(inst, inst.CreateDatabase("d"), 0, 30);
            inst.Abandon();
        }
        var logs = Path.Combine(dir.Path, "logs");
        var last = LogCheck.Verify(logs).Generations[^1];
        var garbage = new byte[300];
        new Random(5).NextBytes(garbage);
        Overwrite(last.File, last.EndOffset, garbage); // a flush that was being written when the power went
        using var again = StorageInstance.Open(dir.Path, NoCheckpoint);
        using var r = again.BeginRead();
        Assert.Equal(30, r.Scan(again.GetDatabase("d"), "t").Count());
        Assert.True(LogCheck.Verify(logs).Ok);
    }

    [Fact]
    public void Damage_in_the_middle_of_a_generation_is_an_error_naming_generation_and_offset()
    {
        using var dir = new TempDir();
        using (var inst = StorageInstance.Create(dir.Path, NoCheckpoint))
        {
            var db = inst.CreateDatabase("d");
            Fill(inst, db, 0, 600, valueSize: 2000); // several generations of 256 KiB
            // Durable commits flush one by one: damage before the last of them was once durable, so it is
            // damage, not the torn end of an interrupted flush.
            Fill(inst, db, 600, 20);
            inst.Abandon();
        }
        var logs = Path.Combine(dir.Path, "logs");
        var gens = LogCheck.Verify(logs).Generations;
        Assert.True(gens.Count >= 3);
        foreach (var target in new[] { gens[0], gens[^1] })
        {
            using var copy = new TempDir();
            CopyDir(dir.Path, copy.Path);
            var file = Path.Combine(copy.Path, "logs", Path.GetFileName(target.File));
            uint offset = 4096 + 1000;
            using (var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
            {
                fs.Position = offset;
                int b = fs.ReadByte();
                fs.Position = offset;
                fs.WriteByte((byte)(b ^ 0xFF));
            }
            var ex = Assert.Throws<LogCorruptException>(() => StorageInstance.Open(copy.Path, NoCheckpoint).Dispose());
            Assert.Equal(target.Generation, ex.Generation);
            Assert.NotNull(ex.Offset);
            Assert.InRange(ex.Offset!.Value, 4096u, offset);
            Assert.Contains($"generation {target.Generation}", ex.Message, StringComparison.Ordinal);
            Assert.False(LogCheck.Verify(Path.Combine(copy.Path, "logs")).Ok);
        }
    }

    [Fact]
    public void A_missing_generation_is_refused()
    {
        using var dir = new TempDir();
        using (var inst = StorageInstance.Create(dir.Path, NoCheckpoint))
        {
            Fill(inst, inst.CreateDatabase("d"), 0, 600, valueSize: 2000);
            inst.Abandon();
        }
        File.Delete(LogFiles.PathOf(Path.Combine(dir.Path, "logs"), 2));
        var ex = Assert.Throws<LogCorruptException>(() => StorageInstance.Open(dir.Path, NoCheckpoint).Dispose());
        Assert.Equal(2u, ex.Generation);
        Assert.Contains("missing", ex.Message, StringComparison.Ordinal);
        Assert.Contains(LogCheck.Verify(Path.Combine(dir.Path, "logs")).Problems, p => p.Contains("missing", StringComparison.Ordinal));
    }

    [Fact]
    public void A_foreign_or_misplaced_generation_is_refused()
    {
        using var dir = new TempDir();
        using var other = new TempDir();
        foreach (var d in new[] { dir.Path, other.Path })
        {
            using var inst = StorageInstance.Create(d, NoCheckpoint);
            Fill(inst, inst.CreateDatabase("d"), 0, 600, valueSize: 2000);
            inst.Abandon();
        }
        var logs = Path.Combine(dir.Path, "logs");
        using (var copy = new TempDir())
        {
            CopyDir(dir.Path, copy.Path);
            File.Copy(LogFiles.PathOf(Path.Combine(other.Path, "logs"), 2), LogFiles.PathOf(Path.Combine(copy.Path, "logs"), 2), overwrite: true);
            var ex = Assert.Throws<LogCorruptException>(() => StorageInstance.Open(copy.Path, NoCheckpoint).Dispose());
            Assert.Equal(2u, ex.Generation);
            Assert.Contains("another log stream", ex.Message, StringComparison.Ordinal);
        }
        using (var copy = new TempDir())
        {
            CopyDir(dir.Path, copy.Path);
            File.Copy(LogFiles.PathOf(logs, 3), LogFiles.PathOf(Path.Combine(copy.Path, "logs"), 2), overwrite: true);
            var ex = Assert.Throws<LogCorruptException>(() => StorageInstance.Open(copy.Path, NoCheckpoint).Dispose());
            Assert.Equal(2u, ex.Generation);
        }
    }

    private static void CopyDir(string from, string to)
    {
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target, overwrite: true);
        }
    }
}
