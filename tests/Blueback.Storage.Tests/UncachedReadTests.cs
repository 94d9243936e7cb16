using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>A backup reads pages that are not in the page cache around it (O_DIRECT, windows read ahead): the image
/// holds exactly the file's pages, every one checked, also while writers change them and checkpoints flush into the ranges being read.</summary>
public partial class UncachedReadTests : IDisposable
{
    private readonly List<IDisposable> _disposals = [];

    public void Dispose()
    {
        foreach (var d in Enumerable.Reverse(_disposals))
        {
            d.Dispose();
        }
        GC.SuppressFinalize(this);
    }

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

    /// <summary>A cold database whose file system takes O_DIRECT at open and refuses it at read time (EINVAL, as
    /// on FUSE): the backup goes on through the page cache, says so once, and the image is whole.</summary>
    [Fact]
    public void Direct_reads_refused_at_read_time_fall_back_to_the_cache_once_and_the_image_is_whole()
    {
        var faults = new IoFaults().Fail(IoOperation.DatabaseDirectRead, count: 1_000_000, message: "Invalid argument");
        var (backup, image, path) = ColdImage(faults, 4);
        try
        {
            var reasons = new List<string>();
            backup.BufferedReads = (_, _, reason) => reasons.Add(reason);
            AssertHoldsFilePages(image, path);
            Assert.Contains("Invalid argument", Assert.Single(reasons), StringComparison.Ordinal);
            Assert.Equal(0, image.BytesReadAroundCache);
            Assert.True(faults.Injected(IoOperation.DatabaseDirectRead) >= 1);
        }
        finally
        {
            image.Dispose();
            backup.Abort();
        }
    }

    /// <summary>A page read around the cache that fails its check is read again through the page cache before the
    /// backup calls it damaged: a healthy page is never reported damaged on what the direct path alone returned.</summary>
    [Fact]
    public void A_page_bad_only_on_the_direct_path_is_read_again_through_the_cache_and_taken()
    {
        // Every direct read returns a flipped byte (a path that lies, not a disk that lost the page): each range is
        // taken only from its second read, through the cache. Read again on the direct path, the page stayed bad.
        var faults = new IoFaults().Garble(IoOperation.DatabaseDirectRead, count: 1_000_000);
        var (backup, image, path) = ColdImage(faults, 5);
        try
        {
            AssertHoldsFilePages(image, path);
            Assert.True(faults.Injected(IoOperation.DatabaseDirectRead) >= 1);
            Assert.True(backup.TransientReadsRecovered >= 1);
            Assert.Equal(0, backup.BufferedFallbacks);
        }
        finally
        {
            image.Dispose();
            backup.Abort();
        }
    }

    /// <summary>A database of about 12 MB, evicted from the cache, and a backup's image of it.</summary>
    private (InstanceBackup Backup, DatabaseImageStream Image, string Path) ColdImage(IoFaults faults, int seed)
    {
        var dir = new TempDir("uncached");
        _disposals.Add(dir);
        var inst = StorageInstance.Create(dir.Path, Options with { Faults = faults });
        _disposals.Add(inst);
        var db = inst.CreateDatabase("a");
        Load(inst, db, 3000, seed);
        var path = Path.Combine(dir.Path, "a" + StorageInstance.DatabaseExtension);
        Assert.True(DirectPathAvailable(path), "this kernel has no cachestat: the direct path cannot run here");
        Evict(path);
        var backup = inst.BeginBackup(BackupType.Copy);
        return (backup, (DatabaseImageStream)backup.OpenDatabaseImage("a"), path);
    }

    /// <summary>Reads the whole image and checks that each data page is the file's, and checked.</summary>
    private static void AssertHoldsFilePages(DatabaseImageStream image, string path)
    {
        var bytes = new MemoryStream();
        var buffer = new byte[(1 << 20) + 4096 * 3];
        for (int n; (n = image.Read(buffer)) > 0;)
        {
            bytes.Write(buffer, 0, n);
        }
        var file = File.ReadAllBytes(path);
        var got = bytes.ToArray();
        int pageSize = image.PageSize;
        for (uint p = 2; p < image.PageCount; p++)
        {
            var fromImage = got.AsSpan((int)p * pageSize, pageSize);
            Assert.True(fromImage.SequenceEqual(file.AsSpan((int)p * pageSize, pageSize)), $"page {p} differs from the file");
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
