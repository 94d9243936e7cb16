using Blueback.Repository.Chunks;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>Format 2: chunks named by their content and shared by every set; gc counts the sets that name them.</summary>
public class SharedChunksTests
{
    private const int Chunk = 64 << 10;

    private static byte[] Pages(int chunks, int seed)
    {
        var b = new byte[chunks * Chunk];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static async Task<BackupSetWriter> WriteAsync(BackupRepository repo, string id, IReadOnlyDictionary<string, byte[]> files, Codec? codec = null, bool commit = true)
    {
        var w = repo.BeginSet(id, codec ?? Codec.Default(), Chunk, BackupRepository.KnownChunks(await repo.ListSetsAsync()));
        foreach (var (path, bytes) in files)
        {
            await w.AddFileAsync(path, new MemoryStream(bytes));
        }
        if (commit)
        {
            await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = 1, GenHigh = 1, Ended = DateTime.UtcNow }));
        }
        else
        {
            await w.FlushAsync();
        }
        return w;
    }

    private static async Task<byte[]> ExtractAsync(BackupRepository repo, string setId, string path)
    {
        var m = await repo.ReadManifestAsync(setId);
        using var ms = new MemoryStream();
        await SetVerifier.ExtractAsync(repo, m, m.Files.Single(f => f.Path == path), ms);
        return ms.ToArray();
    }

    [Fact]
    public async Task A_second_set_of_the_same_content_stores_nothing_new_and_a_changed_page_costs_one_chunk()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var image = Pages(16, 1);
        var first = await WriteAsync(repo, "a", new Dictionary<string, byte[]> { ["databases/x.bdb"] = image });
        Assert.Equal(16 * Chunk, first.RawBytes);
        Assert.True(first.StoredBytes >= image.Length, "random pages do not compress");

        var second = await WriteAsync(repo, "b", new Dictionary<string, byte[]> { ["databases/x.bdb"] = image });
        Assert.Equal(0, second.StoredBytes);
        Assert.Equal(image.Length, second.ReusedBytes);

        var changed = (byte[])image.Clone();
        changed[5 * Chunk + 100] ^= 0xFF;
        var third = await WriteAsync(repo, "c", new Dictionary<string, byte[]> { ["databases/x.bdb"] = changed });
        Assert.InRange(third.StoredBytes, Chunk, Chunk + 1024);
        Assert.Equal(15 * Chunk, third.ReusedBytes);

        Assert.Equal(17, Directory.EnumerateFiles(Path.Combine(dir.Path, "chunks"), "*", SearchOption.AllDirectories).Count());
        Assert.Equal(image, await ExtractAsync(repo, "a", "databases/x.bdb"));
        Assert.Equal(changed, await ExtractAsync(repo, "c", "databases/x.bdb"));
        foreach (var m in await repo.ListSetsAsync())
        {
            Assert.Empty(await SetVerifier.VerifyAsync(repo, m));
        }
    }

    [Fact]
    public async Task A_chunk_repeated_within_a_set_is_written_once_and_cuts_end_chunks_where_asked()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var zeros = new byte[8 * Chunk];
        var w = repo.BeginSet("z", Codec.None, Chunk);
        var f = await w.AddFileAsync("databases/z.bdb", new MemoryStream(zeros), cuts: [8192, zeros.Length - 8192]);
        await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full" }));
        // 8 KiB, then whole chunks from there, the rest up to the last cut, then the last 8 KiB.
        Assert.Equal([8192, Chunk, Chunk, Chunk, Chunk, Chunk, Chunk, Chunk, Chunk - 16384, 8192], f.Chunks.Select(c => c.RawSize).ToArray());
        Assert.Equal(3, f.Chunks.Select(c => c.Key).Distinct().Count()); // 8 KiB of zeros (twice), a chunk of zeros (seven times), 48 KiB of zeros
        Assert.Equal(zeros, await ExtractAsync(repo, "z", "databases/z.bdb"));
    }

    [Fact]
    public async Task Gc_removes_only_chunks_no_set_names_after_the_grace_and_never_those_of_a_running_backup()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var shared = Pages(4, 2);
        var onlyOld = Pages(4, 3);
        await WriteAsync(repo, "old", new Dictionary<string, byte[]> { ["databases/x.bdb"] = [.. shared, .. onlyOld] });
        await WriteAsync(repo, "new", new Dictionary<string, byte[]> { ["databases/x.bdb"] = shared });
        // A backup still being written: its chunks are named by no manifest yet.
        var running = await WriteAsync(repo, "running", new Dictionary<string, byte[]> { ["databases/y.bdb"] = Pages(3, 4) }, commit: false);
        int chunks() => Directory.EnumerateFiles(Path.Combine(dir.Path, "chunks"), "*", SearchOption.AllDirectories).Count();
        Assert.Equal(11, chunks());

        await repo.ForgetAsync("old");
        // Within the grace the forgotten set's tombstone still names its chunks (a restore may be reading them).
        var r = await repo.CollectGarbageAsync(BackupRepository.DefaultGrace);
        Assert.Equal(0, r.ChunksRemoved);
        Assert.Equal(11, chunks());

        // Two hours later (the forgotten set's tombstone and chunks made that old), with the running backup still
        // writing (its mark and chunks are fresh): the forgotten set goes, and with it the chunks only it named.
        var twoHoursAgo = DateTime.UtcNow.AddHours(-2);
        File.SetLastWriteTimeUtc(Path.Combine(dir.Path, BackupRepository.ForgottenKey("old")), twoHoursAgo);
        var newKeys = (await repo.ReadManifestAsync("new")).Files.SelectMany(x => x.Chunks).Select(c => c.Key).ToList();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(dir.Path, "chunks"), "*", SearchOption.AllDirectories)
                     .Where(f => !running.Files.SelectMany(x => x.Chunks).Any(c => f.EndsWith(c.Key, StringComparison.Ordinal))))
        {
            File.SetLastWriteTimeUtc(f, twoHoursAgo);
        }
        r = await repo.CollectGarbageAsync(BackupRepository.DefaultGrace);
        Assert.Contains("old", r.Removed);
        Assert.Contains("running", r.Young);
        Assert.Equal(4, r.ChunksRemoved);
        Assert.Equal(4, r.ChunksInUse);
        Assert.Equal(3, r.ChunksYoung);
        Assert.Equal(7, chunks());
        Assert.Equal(shared, await ExtractAsync(repo, "new", "databases/x.bdb"));
        Assert.All(newKeys, k => Assert.True(File.Exists(Path.Combine(dir.Path, k))));

        // The running backup commits: its chunks are all there.
        await running.CommitAsync(running.Describing(new Manifest { Instance = "store", Type = "full" }));
        Assert.Empty(await SetVerifier.VerifyAsync(repo, await repo.ReadManifestAsync("running")));
        Assert.False(File.Exists(Path.Combine(dir.Path, BackupRepository.PendingKey("sets/running"))));
    }

    [Fact]
    public async Task A_backup_that_died_leaves_chunks_that_gc_removes_once_its_mark_is_old()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var w = await WriteAsync(repo, "dead", new Dictionary<string, byte[]> { ["databases/y.bdb"] = Pages(2, 5) }, commit: false);
        await w.AbandonAsync(TimeSpan.FromSeconds(5)); // its mark goes; its chunks stay, named by nothing
        Assert.Equal(2, Directory.EnumerateFiles(Path.Combine(dir.Path, "chunks"), "*", SearchOption.AllDirectories).Count());
        var young = await repo.CollectGarbageAsync(BackupRepository.DefaultGrace);
        Assert.Equal(2, young.ChunksYoung);
        var old = await repo.CollectGarbageAsync(TimeSpan.Zero);
        Assert.Equal(2, old.ChunksRemoved);
    }

    [Fact]
    public async Task A_chunk_left_by_a_dead_backup_is_written_again_when_a_new_set_needs_it()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var image = Pages(2, 6);
        var dead = await WriteAsync(repo, "dead", new Dictionary<string, byte[]> { ["databases/y.bdb"] = image }, commit: false);
        await dead.AbandonAsync(TimeSpan.FromSeconds(5));
        var files = Directory.EnumerateFiles(Path.Combine(dir.Path, "chunks"), "*", SearchOption.AllDirectories).ToList();
        var longAgo = DateTime.UtcNow.AddDays(-3);
        files.ForEach(f => File.SetLastWriteTimeUtc(f, longAgo));
        // The orphans are in no committed set, so the new set writes them again: fresh, gc leaves them to it.
        var w = await WriteAsync(repo, "new", new Dictionary<string, byte[]> { ["databases/y.bdb"] = image });
        Assert.Equal(0, w.ReusedBytes);
        Assert.All(files, f => Assert.True(File.GetLastWriteTimeUtc(f) > longAgo));
        var r = await repo.CollectGarbageAsync(TimeSpan.FromHours(1));
        Assert.Equal(0, r.ChunksRemoved);
        Assert.Equal(image, await ExtractAsync(repo, "new", "databases/y.bdb"));
    }

    [Fact]
    public async Task Damage_to_a_shared_chunk_is_named_in_every_set_that_holds_it()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var image = Pages(3, 7);
        await WriteAsync(repo, "a", new Dictionary<string, byte[]> { ["databases/x.bdb"] = image }, Codec.None);
        await WriteAsync(repo, "b", new Dictionary<string, byte[]> { ["databases/x.bdb"] = image }, Codec.None);
        var m = await repo.ReadManifestAsync("a");
        var key = m.Files[0].Chunks[1].Key;
        var path = Path.Combine(dir.Path, key);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[10] ^= 1;
        await File.WriteAllBytesAsync(path, bytes);
        foreach (var id in new[] { "a", "b" })
        {
            var p = Assert.Single(await SetVerifier.VerifyAsync(repo, await repo.ReadManifestAsync(id)));
            Assert.Contains(key, p, StringComparison.Ordinal);
            Assert.Contains("CRC32C", p, StringComparison.Ordinal);
            var ex = await Assert.ThrowsAsync<RepositoryException>(() => ExtractAsync(repo, id, "databases/x.bdb"));
            Assert.Contains(key, ex.Message, StringComparison.Ordinal);
        }
        // A chunk whose bytes are whole but belong to other content (moved under another id) is refused too.
        var other = Path.Combine(dir.Path, m.Files[0].Chunks[2].Key);
        bytes[10] ^= 1;
        await File.WriteAllBytesAsync(path, bytes);
        await File.WriteAllBytesAsync(other, bytes);
        var moved = await SetVerifier.VerifyAsync(repo, m);
        Assert.Contains(moved, p => p.Contains("does not hash to its id", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_format_1_repository_is_still_read_and_written()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path), 1, null);
        var image = Pages(3, 8);
        await WriteAsync(repo, "one", new Dictionary<string, byte[]> { ["databases/x.bdb"] = image });
        await WriteAsync(repo, "two", new Dictionary<string, byte[]> { ["databases/x.bdb"] = image });
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "chunks")));
        Assert.True(Directory.Exists(Path.Combine(dir.Path, "sets", "one", "chunks")));
        var reopened = await BackupRepository.OpenAsync(new LocalDirectoryStore(dir.Path));
        Assert.Equal(1, reopened.Format);
        foreach (var m in await reopened.ListSetsAsync())
        {
            Assert.Equal(1, m.FormatVersion);
            Assert.Empty(await SetVerifier.VerifyAsync(reopened, m));
        }
        Assert.Equal(image, await ExtractAsync(reopened, "two", "databases/x.bdb"));
        await reopened.ForgetAsync("one");
        var r = await reopened.CollectGarbageAsync(TimeSpan.Zero);
        Assert.Equal(["one"], r.Removed);
        Assert.Equal(image, await ExtractAsync(reopened, "two", "databases/x.bdb"));
        Assert.Equal(ChunkObject.Key(new string('a', 64)), $"chunks/aa/{new string('a', 64)}");
    }
}
