using Blueback.Repository.Compression;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>An immutable repository on a local directory, through a store that plays Object Lock and records any
/// overwrite or early delete: forget and gc before and after the locks expire (an injected clock).</summary>
public class ImmutableRepositoryTests
{
    private const int Chunk = 64 << 10;
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    private static async Task<(BackupRepository Repo, ImmutableStoreGuard Guard)> InitAsync(string path)
    {
        var guard = new ImmutableStoreGuard(new LocalDirectoryStore(path), Day, new TestClock());
        var repo = await BackupRepository.InitAsync(guard, BackupRepository.FormatVersion, null, ImmutabilityConfig.Create(1, LockMode.Compliance));
        repo.Clock = guard.Clock;
        return (repo, guard);
    }

    private static byte[] Pages(int chunks, int seed)
    {
        var b = new byte[chunks * Chunk];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static async Task WriteSetAsync(BackupRepository repo, string id, byte[] image)
    {
        var w = repo.BeginSet(id, Codec.Default(), Chunk, BackupRepository.KnownChunks(await repo.ListSetsAsync()));
        await w.AddFileAsync("databases/x.bdb", new MemoryStream(image));
        await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = 1, GenHigh = 1, Ended = DateTime.UtcNow }));
    }

    private static async Task<byte[]> ExtractAsync(BackupRepository repo, string setId)
    {
        var m = await repo.ReadManifestAsync(setId);
        using var ms = new MemoryStream();
        await SetVerifier.ExtractAsync(repo, m, m.Files.Single(), ms);
        return ms.ToArray();
    }

    [Fact]
    public async Task A_forgotten_set_is_hidden_but_restorable_until_its_lock_expires_and_gc_then_frees_it()
    {
        using var dir = new TempDir();
        var (repo, guard) = await InitAsync(dir.Path);
        var a = Pages(4, 1);
        var b = Pages(4, 2);
        await WriteSetAsync(repo, "a", a);
        await WriteSetAsync(repo, "b", b);

        await repo.ForgetAsync("a");
        await repo.ForgetAsync("a"); // a repeat changes nothing
        Assert.Equal(["b"], (await repo.ListSetsAsync()).Select(m => m.SetId));
        Assert.Equal(a, await ExtractAsync(repo, "a"));
        Assert.Empty((await repo.CheckChainAsync(null)).Problems);

        var withinGrace = await repo.CollectGarbageAsync(TimeSpan.FromHours(1));
        Assert.Equal(["a"], withinGrace.ForgottenKept);
        Assert.Equal(0, withinGrace.ChunksRemoved);

        var locked = await repo.CollectGarbageAsync(TimeSpan.Zero);
        Assert.Equal(["a"], locked.LockedSets);
        Assert.Empty(locked.Removed);
        Assert.Equal(0, locked.ChunksRemoved);
        Assert.True(locked.LockedObjects >= 3, $"the manifest, tombstone and marks wait: {locked.LockedObjects}");
        Assert.True(locked.LockedBytes > 0);
        Assert.InRange(locked.LastUnlock!.Value, DateTime.UtcNow + Day - TimeSpan.FromMinutes(5), DateTime.UtcNow + Day);
        Assert.Equal(a, await ExtractAsync(repo, "a"));

        guard.Clock.Ahead = Day + TimeSpan.FromMinutes(1);
        var expired = await repo.CollectGarbageAsync(TimeSpan.Zero);
        Assert.Equal(["a"], expired.Removed);
        Assert.Equal(4, expired.ChunksRemoved); // a's pages, which b does not share
        Assert.Equal(0, expired.LockedObjects);
        await Assert.ThrowsAsync<RepositoryException>(() => repo.ReadManifestAsync("a"));
        Assert.Equal(b, await ExtractAsync(repo, "b"));
        Assert.Empty(guard.Breaches);
        Assert.Empty((await repo.CheckChainAsync(null)).Problems);
    }

    [Fact]
    public async Task Nothing_is_overwritten_and_readers_take_the_newest_mark()
    {
        using var dir = new TempDir();
        var (repo, guard) = await InitAsync(dir.Path);
        var image = Pages(3, 3);
        await WriteSetAsync(repo, "a", image);
        await WriteSetAsync(repo, "a2", image); // every chunk reused

        await repo.RecordVerifiedAsync("a", ok: false, problems: 2);
        await Task.Delay(2); // names carry the time in ticks
        await repo.RecordVerifiedAsync("a", ok: true, problems: 0);
        await repo.RecordProvedAsync("a", new ProofRecord { Ok = true, Time = DateTime.UtcNow });
        var verified = await repo.LastVerifiedAsync("a");
        Assert.True(verified!.Ok);
        Assert.True((await repo.LastProvedAsync("a"))!.Ok);

        await using (await RepositoryLock.AcquireAsync(repo, "test", RepositoryLock.DefaultLease, default))
        {
            var refused = await Assert.ThrowsAsync<RepositoryException>(() => RepositoryLock.AcquireAsync(repo, "second", RepositoryLock.DefaultLease, default));
            Assert.Contains("is locked for test", refused.Message, StringComparison.Ordinal);
        }
        await using (await RepositoryLock.AcquireAsync(repo, "after release", RepositoryLock.DefaultLease, default))
        {
        }
        await repo.ForgetAsync("a2");
        await repo.CollectGarbageAsync(TimeSpan.Zero);
        Assert.Empty(guard.Breaches);
        Assert.False(File.Exists(Path.Combine(dir.Path, RepositoryLock.Key)), "no rewritable lock object");
        Assert.True(Directory.GetFiles(Path.Combine(dir.Path, "sets", "a"), "pending-*.json").Length > 0, "the pending mark stays, locked");
    }

    [Fact]
    public async Task A_delete_by_the_store_is_refused_while_locked_and_the_set_stays_whole()
    {
        using var dir = new TempDir();
        var (repo, guard) = await InitAsync(dir.Path);
        var image = Pages(2, 4);
        await WriteSetAsync(repo, "a", image);
        var m = await repo.ReadManifestAsync("a");
        foreach (var key in m.Files.SelectMany(f => f.Chunks).Select(c => c.Key).Append(BackupRepository.ManifestKey("a")))
        {
            await Assert.ThrowsAsync<ObjectLockedException>(() => guard.DeleteAsync(key, default));
            await Assert.ThrowsAsync<ObjectLockedException>(() => guard.WriteAsync(key, "x"u8.ToArray(), default));
        }
        Assert.Equal(image, await ExtractAsync(repo, "a"));
    }

    [Fact]
    public async Task An_abandoned_set_is_left_to_gc_which_waits_for_its_lock()
    {
        using var dir = new TempDir();
        var (repo, guard) = await InitAsync(dir.Path);
        var w = repo.BeginSet("dead", Codec.Default(), Chunk);
        await w.AddFileAsync("databases/x.bdb", new MemoryStream(Pages(2, 5)));
        await w.FlushAsync();
        await w.AbandonAsync(TimeSpan.FromSeconds(5));
        Assert.True(Directory.Exists(Path.Combine(dir.Path, "sets", "dead")), "nothing deleted before its lock");

        guard.Clock.Ahead = TimeSpan.FromHours(2); // past the grace, within the lock
        var waiting = await repo.CollectGarbageAsync(BackupRepository.DefaultGrace);
        Assert.Equal(["dead"], waiting.LockedSets);
        Assert.Equal(2, waiting.LockedObjects - waiting.LockedSets.Count); // its two chunks wait too, beside its pending mark

        guard.Clock.Ahead = Day + TimeSpan.FromHours(2);
        var freed = await repo.CollectGarbageAsync(BackupRepository.DefaultGrace);
        Assert.Equal(["dead"], freed.Removed);
        Assert.Equal(2, freed.ChunksRemoved);
        Assert.Empty(guard.Breaches);
    }

    [Fact]
    public async Task The_settings_are_recorded_and_what_would_rewrite_config_is_refused()
    {
        using var dir = new TempDir();
        using var key = new TempDir();
        var secret = RepositorySecret.CreateKeyFile(Path.Combine(key.Path, "k"));
        var created = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path), 2, secret, ImmutabilityConfig.Create(30, LockMode.Governance));
        var repo = await BackupRepository.OpenAsync(new LocalDirectoryStore(dir.Path), secret);
        Assert.Equal(30, repo.Immutable!.Days);
        Assert.Equal(TimeSpan.FromDays(30), repo.Immutable.Retention);
        Assert.Equal(LockMode.Governance, repo.Immutable.LockMode);
        Assert.Equal("30 day(s), governance", repo.Immutable.ToString());
        var passwd = await Assert.ThrowsAsync<RepositoryException>(() => repo.ChangeSecretAsync(RepositorySecret.CreateKeyFile(Path.Combine(key.Path, "k2"))));
        Assert.Contains("immutable", passwd.Message, StringComparison.Ordinal);
        Assert.Contains(dir.Path, passwd.Message, StringComparison.Ordinal);
        using var other = new TempDir();
        await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.InitAsync(new LocalDirectoryStore(other.Path), 1, null, ImmutabilityConfig.Create(1, LockMode.Compliance)));
        Assert.Throws<RepositoryException>(() => ImmutabilityConfig.Create(0, LockMode.Compliance));
        Assert.Equal(created.Id, repo.Id);
    }
}
