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
}
