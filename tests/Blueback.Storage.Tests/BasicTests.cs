using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

public class BasicTests
{
    [Fact]
    public void Put_get_delete_and_reopen()
    {
        using var dir = new TempDir();
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            var db = inst.CreateDatabase("mailbox");
            using (var tx = inst.BeginWrite())
            {
                tx.Put(db, "t", B("a"), B("1"));
                tx.Put(db, "t", B("b"), B("2"));
                tx.Commit();
            }
            using (var tx = inst.BeginWrite())
            {
                Assert.True(tx.Delete(db, "t", B("a")));
                tx.Commit();
            }
            using var r = inst.BeginRead();
            Assert.Null(r.Get(db, "t", B("a")));
            Assert.Equal("2", S(r.Get(db, "t", B("b"))!));
        }
        using (var inst = StorageInstance.Open(dir.Path, Options))
        {
            Assert.True(inst.LastRecovery!.WasClean);
            var db = inst.GetDatabase("mailbox");
            using var r = inst.BeginRead();
            Assert.Null(r.Get(db, "t", B("a")));
            Assert.Equal("2", S(r.Get(db, "t", B("b"))!));
        }
    }

    [Fact]
    public void Many_keys_split_and_scan_in_both_directions()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options);
        var db = inst.CreateDatabase("d", 4096);
        using (var tx = inst.BeginWrite())
        {
            for (int i = 0; i < 5000; i++)
            {
                tx.Put(db, "t", B($"k{i:D6}"), B($"value-{i}-" + new string('x', i % 50)));
            }
            tx.Commit();
        }
        using var r = inst.BeginRead();
        var all = r.Scan(db, "t").ToList();
        Assert.Equal(5000, all.Count);
        Assert.Equal("k000000", S(all[0].Key));
        var rev = r.Scan(db, "t", B("k000100"), B("k000200"), reverse: true).ToList();
        Assert.Equal(100, rev.Count);
        Assert.Equal("k000199", S(rev[0].Key));
        Assert.Equal("k000100", S(rev[^1].Key));
    }

    [Fact]
    public void Large_values_are_kept_in_pieces_whose_pages_are_reused()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options with { CacheSize = 128L << 20, LogGenerationSize = 4 << 20 });
        var db = inst.CreateDatabase("d");
        var big = new byte[16 * 1024 * 1024];
        new Random(1).NextBytes(big);
        using (var tx = inst.BeginWrite())
        {
            tx.Put(db, "t", B("big"), big);
            tx.Commit();
        }
        using (var r = inst.BeginRead())
        {
            Assert.Equal(big, r.Get(db, "t", B("big")));
        }
        using (var tx = inst.BeginWrite())
        {
            tx.Delete(db, "t", B("big"));
            tx.Commit();
        }
        using (var tx = inst.BeginWrite())
        {
            tx.Put(db, "t", B("big2"), big.AsSpan(0, 1 << 20));
            tx.Commit();
        }
        inst.Checkpoint();
        // The second value reused freed pages: the file did not grow by another megabyte of pages.
        Assert.True(new FileInfo(db.Path).Length < 20L * 1024 * 1024);
    }
}
