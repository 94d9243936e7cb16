using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>A backup reads pages that are not in the page cache around it (O_DIRECT, windows read ahead): the image
/// holds exactly the file's pages, every one checked, also while writers change them and checkpoints flush into the ranges being read.</summary>
public partial class UncachedReadTests
{
    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(int fd, long offset, long length, int advice);

    /// <summary>Drops the file's clean pages from the page cache (POSIX_FADV_DONTNEED), as a cold database is.</summary>
    private static void Evict(string path)
    {
        using var handle = File.OpenHandle(path);
        Assert.Equal(0, Fadvise((int)handle.DangerousGetHandle(), 0, 0, 4));
    }

    /// <summary>cachestat (Linux 6.5+) and O_DIRECT are what the direct path needs; this machine has both.</summary>
    private static bool DirectPathAvailable(string path)
    {
        using var handle = File.OpenHandle(path);
        return OperatingSystem.IsLinux() && FileSystem.MostlyCached(handle, 0, 4096) is not null;
    }

    private static void Load(StorageInstance inst, Database db, int values, int seed)
    {
        var rng = new Random(seed);
        var value = new byte[3000];
        for (int i = 0; i < values;)
        {
            using var tx = inst.BeginWrite();
            for (int j = 0; j < 200 && i < values; j++, i++)
            {
                rng.NextBytes(value);
                tx.Put(db, "t", B($"k{i:D7}"), value);
            }
            tx.Commit(CommitMode.Lazy);
        }
        inst.Checkpoint();
    }

    [Fact]
    public void A_cold_database_is_read_around_the_cache_and_the_image_holds_its_pages()
    {
        using var dir = new TempDir("uncached");
        using var inst = StorageInstance.Create(dir.Path, Options);
        var db = inst.CreateDatabase("a");
        Load(inst, db, 3000, 1); // about 12 MB of pages: several read-ahead windows
        var path = Path.Combine(dir.Path, "a" + StorageInstance.DatabaseExtension);
        Assert.True(DirectPathAvailable(path), "this kernel has no cachestat: the direct path cannot run here");
        Evict(path);

        var backup = inst.BeginBackup(BackupType.Copy);
        try
        {
            using var image = (DatabaseImageStream)backup.OpenDatabaseImage("a");
            var bytes = new MemoryStream();
            var buffer = new byte[(1 << 20) + 4096 * 3]; // not a multiple of the window: reads straddle windows
            for (int n; (n = image.Read(buffer)) > 0;)
            {
                bytes.Write(buffer, 0, n);
            }
            Assert.True(image.BytesReadAroundCache > 8 << 20, $"only {image.BytesReadAroundCache:N0} bytes were read around the cache");
            var file = File.ReadAllBytes(path);
            var got = bytes.ToArray();
            int pageSize = db.PageSize;
            for (uint p = 2; p < image.PageCount; p++)
            {
                var fromImage = got.AsSpan((int)p * pageSize, pageSize);
                Assert.True(fromImage.SequenceEqual(file.AsSpan((int)p * pageSize, pageSize)), $"page {p} differs from the file");
                Assert.True(Checksum.VerifyPage(fromImage, p) || Checksum.IsAllZero(fromImage), $"page {p} fails its checksum");
            }
        }
        finally
        {
            backup.Abort();
        }
    }

    [Fact]
    public async Task Writers_and_checkpoints_during_a_cold_read_still_give_checked_pages()
    {
        using var dir = new TempDir("uncached");
        using var inst = StorageInstance.Create(dir.Path, Options);
        var db = inst.CreateDatabase("a");
        Load(inst, db, 3000, 2);
        var path = Path.Combine(dir.Path, "a" + StorageInstance.DatabaseExtension);
        Assert.True(DirectPathAvailable(path), "this kernel has no cachestat: the direct path cannot run here");
        Evict(path);

        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            var rng = new Random(3);
            var value = new byte[3000];
            while (!stop.IsCancellationRequested)
            {
                using var tx = inst.BeginWrite();
                rng.NextBytes(value);
                tx.Put(db, "t", B($"k{rng.Next(3000):D7}"), value);
                tx.Commit(CommitMode.Lazy);
                if (rng.Next(50) == 0)
                {
                    inst.Checkpoint(); // flushes pages into the ranges being read
                }
            }
        });
        var backup = inst.BeginBackup(BackupType.Copy);
        try
        {
            using var image = (DatabaseImageStream)backup.OpenDatabaseImage("a");
            var buffer = new byte[1 << 20];
            long total = 0;
            for (int n; (n = image.Read(buffer)) > 0;)
            {
                total += n; // every page is checked inside Read; a torn or stale-by-position page would throw
                if (total == 4 << 20)
                {
                    Evict(path);
                }
            }
            Assert.Equal(image.Length, total);
            Assert.True(image.BytesReadAroundCache > 0);
        }
        finally
        {
            await stop.CancelAsync();
            await writer.WaitAsync(TimeSpan.FromSeconds(30));
            backup.Abort();
        }
    }
}
