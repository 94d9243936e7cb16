using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

public class LocalDirectoryStoreTests
{
    /// <summary>A standby listing shipped generations failed on a shipper's manifest.json.tmp renamed between the
    /// listing and its stat (CI, stop 27): a write in flight is not an object, in either listing.</summary>
    [Fact]
    public async Task A_write_in_flight_is_listed_by_neither_listing()
    {
        using var dir = new TempDir();
        var store = new LocalDirectoryStore(dir.Path);
        await store.WriteAsync("shipped/store/a/00000009/chunk-0", new byte[] { 1, 2, 3 }, CancellationToken.None);
        var gen = Path.Combine(dir.Path, "shipped", "store", "a", "00000009");
        await File.WriteAllBytesAsync(Path.Combine(gen, "manifest.json.tmp"), [9]);

        var objects = await store.ListObjectsAsync("shipped", CancellationToken.None);
        var o = Assert.Single(objects);
        Assert.Equal("shipped/store/a/00000009/chunk-0", o.Key);
        Assert.Equal(3, o.Size);
        Assert.Equal(["shipped/store/a/00000009/chunk-0"], await store.ListAsync("shipped/store/a/00000009", CancellationToken.None));

        // Once renamed into place it is an object.
        File.Move(Path.Combine(gen, "manifest.json.tmp"), Path.Combine(gen, "manifest.json"));
        Assert.Equal(2, (await store.ListObjectsAsync("shipped", CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Files_renamed_and_removed_while_listed_never_fail_the_listing()
    {
        using var dir = new TempDir();
        var store = new LocalDirectoryStore(dir.Path);
        var root = Path.Combine(dir.Path, "sets");
        Directory.CreateDirectory(root);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        // Churn: files appear and vanish (renamed and removed, whole directories too) as fast as the disk allows.
        var churn = Task.Run(() =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var d = Path.Combine(root, $"s{i % 8}");
                Directory.CreateDirectory(d);
                var f = Path.Combine(d, "manifest.json");
                File.WriteAllBytes(f + ".tmp", [1]);
                File.Move(f + ".tmp", f, overwrite: true);
                File.Delete(f);
                if (i % 5 == 0)
                {
                    Directory.Delete(d, recursive: true);
                }
            }
        });
        var listings = 0;
        while (!stop.IsCancellationRequested)
        {
            var objects = await store.ListObjectsAsync("sets", CancellationToken.None);
            Assert.All(objects, o => Assert.DoesNotContain(".tmp", o.Key, StringComparison.Ordinal));
            listings++;
        }
        await churn;
        Assert.True(listings > 0);
    }

    /// <summary>Two verifies at once both record their result under one key (verified.json): the second failed with
    /// "being used by another process" on the shared temporary name (soak seed 21, lanes 3).</summary>
    [Fact]
    public async Task Two_atomic_writes_of_one_key_at_once_both_succeed()
    {
        using var dir = new TempDir();
        var store = new LocalDirectoryStore(dir.Path);
        const string key = "sets/a/verified.json";
        await store.WriteAtomicAsync(key, new byte[] { 1 }, CancellationToken.None);
        // Another writer of the same key is mid-write (its temporary file open, as the first verify's was).
        var path = Path.Combine(dir.Path, "sets", "a", "verified.json");
        using (new FileStream(path + ".tmp", FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await store.WriteAtomicAsync(key, new byte[] { 2 }, CancellationToken.None);
        }
        Assert.Equal(new byte[] { 2 }, await store.ReadAsync(key, CancellationToken.None));

        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => store.WriteAtomicAsync(key, new[] { (byte)i }, CancellationToken.None))));
        Assert.Single(await store.ReadAsync(key, CancellationToken.None));
        Assert.DoesNotContain(Directory.EnumerateFiles(Path.GetDirectoryName(path)!), f => f.EndsWith(".tmp", StringComparison.Ordinal) && !f.EndsWith("verified.json.tmp", StringComparison.Ordinal));
    }

    /// <summary>Two sets writing one shared chunk at once: the second write truncated the file in place, so a reader of
    /// the first (a verify, a restore) could meet it short, and a power cut in the middle of the second write could
    /// leave a committed set's chunk truncated (found by the power-cut stress run: "not a Blueback chunk (no trailer;
    /// truncated or overwritten)"). A file already there is now replaced whole by a rename.</summary>
    [Fact]
    public async Task Writing_a_key_that_exists_replaces_the_file_whole_and_never_truncates_it_under_a_reader()
    {
        using var dir = new TempDir();
        var store = new LocalDirectoryStore(dir.Path);
        var first = Enumerable.Repeat((byte)1, 100_000).ToArray();
        await store.WriteAsync("chunks/ab/abcd", first, CancellationToken.None);
        using var reader = File.OpenHandle(Path.Combine(dir.Path, "chunks", "ab", "abcd"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        await store.WriteAsync("chunks/ab/abcd", new byte[] { 2, 2, 2 }, CancellationToken.None);
        var seen = new byte[first.Length];
        Assert.Equal(first.Length, RandomAccess.Read(reader, seen, 0));
        Assert.Equal(first, seen);
        Assert.Equal(new byte[] { 2, 2, 2 }, await store.ReadAsync("chunks/ab/abcd", CancellationToken.None));
    }
}
