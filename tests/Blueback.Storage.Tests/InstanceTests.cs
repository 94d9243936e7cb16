using Blueback.Storage.Format;
using Blueback.Storage.Log;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

public class InstanceTests
{
    [Fact]
    public void Rollback_and_dispose_without_commit_leave_nothing()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options);
        var db = inst.CreateDatabase("d");
        using (var tx = inst.BeginWrite())
        {
            tx.Put(db, "t", B("k"), B("v"));
            tx.Rollback();
        }
        using (var tx = inst.BeginWrite())
        {
            tx.Put(db, "t", B("k2"), B("v"));
        }
        using var r = inst.BeginRead();
        Assert.False(r.TableExists(db, "t"));
        Assert.Null(r.Get(db, "t", B("k2")));
    }

    [Fact]
    public void Limits_are_enforced_with_clear_errors()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options with { CacheSize = 128L << 20, LogGenerationSize = 4 << 20 });
        var db = inst.CreateDatabase("d");
        using var tx = inst.BeginWrite();
        var ex = Assert.Throws<StorageLimitException>(() => tx.Put(db, "t", new byte[1025], B("v")));
        Assert.Contains("1024", ex.Message, StringComparison.Ordinal);
        Assert.Throws<StorageLimitException>(() => tx.Put(db, "t", Array.Empty<byte>(), B("v")));
        Assert.Throws<StorageLimitException>(() => tx.Put(db, "t", B("k"), new byte[(16 << 20) + 1]));
        tx.Put(db, "t", new byte[1024], new byte[16 << 20]); // both limits exactly: accepted
        tx.Commit();
        Assert.Throws<StorageLimitException>(() => inst.CreateDatabase("../escape"));
    }

    [Fact]
    public void Several_instances_live_in_one_process_and_databases_attach_and_detach()
    {
        using var dir = new TempDir();
        using var one = StorageInstance.Create(dir["one"], Options);
        using var two = StorageInstance.Create(dir["two"], Options);
        var d1 = one.CreateDatabase("x");
        var d2 = two.CreateDatabase("x");
        using (var tx = one.BeginWrite())
        {
            tx.Put(d1, "t", B("k"), B("from one"));
            tx.Commit();
        }
        using (var tx = two.BeginWrite())
        {
            Assert.Throws<ArgumentException>(() => tx.Put(d1, "t", B("k"), B("wrong instance")));
            tx.Put(d2, "t", B("k"), B("from two"));
            tx.Commit();
        }
        var path = d1.Path;
        one.DetachDatabase(d1);
        Assert.Equal(DatabaseState.Clean, Diagnostics.DatabaseCheck.ReadHeader(path).State);
        // A cleanly detached database can be attached to another instance.
        var moved = two.AttachDatabase(path, "moved");
        using var r = two.BeginRead();
        Assert.Equal("from one", S(r.Get(moved, "t", B("k"))!));
        Assert.Equal("from two", S(r.Get(d2, "t", B("k"))!));
    }

    [Fact]
    public void Circular_logging_deletes_generations_below_the_checkpoint()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options with { CircularLogging = true });
        var db = inst.CreateDatabase("d");
        for (int i = 0; i < 300; i++)
        {
            using var tx = inst.BeginWrite();
            tx.Put(db, "t", B($"k{i}"), new byte[3000]);
            tx.Commit(CommitMode.Lazy);
        }
        inst.Checkpoint();
        inst.Checkpoint();
        var gens = LogFiles.List(inst.LogDirectory);
        Assert.True(gens[0] >= inst.CheckpointLsn.Generation - 1, $"generations {string.Join(",", gens)} remain below checkpoint {inst.CheckpointLsn}");
        Assert.True(inst.CurrentGeneration > 3);
    }

    [Fact]
    public void Soft_recovery_refuses_a_database_awaiting_hard_recovery()
    {
        using var dir = new TempDir();
        string path;
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            path = inst.CreateDatabase("d").Path;
        }
        using (var f = Paging.DatabaseFile.Open(path))
        {
            var h = f.ReadHeader();
            h.State = DatabaseState.RestoredAwaitingRecovery;
            f.WriteHeader(ref h);
        }
        var ex = Assert.Throws<DatabaseStateException>(() => StorageInstance.Open(dir.Path, Options));
        Assert.Contains("hard recovery", ex.Message, StringComparison.Ordinal);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_header_survives_a_damaged_first_copy()
    {
        using var dir = new TempDir();
        string path;
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            path = inst.CreateDatabase("d").Path;
        }
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            fs.Position = 100;
            fs.Write(new byte[50]);
        }
        Assert.Equal(DatabaseState.Clean, Diagnostics.DatabaseCheck.ReadHeader(path).State);
        using var again = StorageInstance.Open(dir.Path, Options);
        Assert.Single(again.Databases);
    }
}
