using System.Text.Json;
using Blueback.Repository;
using Blueback.Repository.Tests;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;

namespace Blueback.Backup.Tests;

/// <summary>Retention decides over the dependency graph and by log position; forgetting is two-phase; the
/// maintenance lock keeps two maintainers apart.</summary>
public class RetentionTests
{
    private static readonly DateTime Day = new(2026, 11, 10, 12, 0, 0, DateTimeKind.Utc);

    private static Manifest M(string id, string type, uint low, uint high, DateTime ended, string? parent = null, string instance = "store") =>
        new() { SetId = id, Type = type, GenLow = low, GenHigh = high, Ended = ended, ParentSetId = parent, Instance = instance };

    private static HashSet<string> Kept(IEnumerable<Manifest> sets, RetentionPolicy p) =>
        Retention.Plan(sets.ToList(), p).Where(d => d.Keep).Select(d => d.Set.SetId).ToHashSet();

    // Ids run against log order on purpose: "z" is the oldest set, "a" the newest.
    private static readonly Manifest[] Chain =
    [
        M("z-full1", "full", 1, 2, Day),
        M("y-inc1", "incremental", 3, 4, Day.AddHours(1), "z-full1"),
        M("x-inc2", "incremental", 5, 6, Day.AddHours(2), "y-inc1"),
        M("w-diff1", "differential", 3, 7, Day.AddHours(3), "z-full1"),
        M("v-full2", "full", 8, 9, Day.AddDays(1)),
        M("a-inc3", "incremental", 10, 11, Day.AddDays(1).AddHours(1), "v-full2"),
    ];

    [Fact]
    public void A_kept_incremental_keeps_its_whole_chain_and_order_is_by_log_position_not_id()
    {
        Assert.Equal(["a-inc3", "v-full2"], Kept(Chain, new RetentionPolicy { KeepLast = 1 }).Order(StringComparer.Ordinal));
        // The 4th newest by log position is x-inc2, which needs y-inc1 and z-full1.
        Assert.Equal(["a-inc3", "v-full2", "w-diff1", "x-inc2", "y-inc1", "z-full1"], Kept(Chain, new RetentionPolicy { KeepLast = 4 }).Order(StringComparer.Ordinal));
        // The 3rd newest is the differential, which needs only its full set.
        Assert.Equal(["a-inc3", "v-full2", "w-diff1", "z-full1"], Kept(Chain, new RetentionPolicy { KeepLast = 3 }).Order(StringComparer.Ordinal));
        var why = Retention.Plan(Chain, new RetentionPolicy { KeepLast = 3 }).Single(d => d.Set.SetId == "z-full1").Reasons;
        Assert.Contains("needed by differential set w-diff1", why);
        Assert.Contains(Retention.Plan(Chain, new RetentionPolicy { KeepLast = 1 }).Single(d => d.Set.SetId == "x-inc2").Reasons, r => r.Contains("no rule", StringComparison.Ordinal));
    }

    [Fact]
    public void Daily_weekly_monthly_and_within_keep_the_newest_set_of_each_period()
    {
        var sets = new List<Manifest>();
        string? parent = null;
        for (int d = 0; d < 40; d++)
        {
            for (int h = 0; h < 3; h++)
            {
                var id = $"s{d:D2}-{h}";
                bool full = h == 0;
                sets.Add(M(id, full ? "full" : "incremental", (uint)(d * 10 + h * 2 + 1), (uint)(d * 10 + h * 2 + 2), Day.AddDays(d).AddHours(h), full ? null : parent));
                parent = id;
            }
        }
        // Daily 2: the last set of each of the last two days, and the chains they need (back to that day's full).
        Assert.Equal(["s38-0", "s38-1", "s38-2", "s39-0", "s39-1", "s39-2"], Kept(sets, new RetentionPolicy { KeepDaily = 2 }).Order(StringComparer.Ordinal));
        // Within 1 day of the newest (day 39, 02:00): day 38 from 02:00 on, and day 39.
        Assert.Equal(["s38-0", "s38-1", "s38-2", "s39-0", "s39-1", "s39-2"], Kept(sets, new RetentionPolicy { KeepWithin = TimeSpan.FromDays(1) }).Order(StringComparer.Ordinal));
        // Monthly 2: the newest set of each of the two most recent months, with their chains.
        var monthly = Kept(sets, new RetentionPolicy { KeepMonthly = 2 });
        var lastOfPreviousMonth = sets.Where(s => s.Ended.Month == Day.Month).MaxBy(s => s.GenHigh)!.SetId;
        Assert.Contains(lastOfPreviousMonth, monthly);
        Assert.Contains("s39-2", monthly);
        // Weekly 3: three sets picked, each with its day's chain (up to 3 sets each).
        Assert.InRange(Kept(sets, new RetentionPolicy { KeepWeekly = 3 }).Count, 7, 9);
    }

    [Fact]
    public void Each_instance_is_decided_on_its_own_and_its_newest_set_always_stays()
    {
        var sets = Chain.Append(M("other-full", "full", 1, 50, Day.AddDays(-30), instance: "directory")).ToList();
        var kept = Kept(sets, new RetentionPolicy { KeepWithin = TimeSpan.FromHours(1) });
        Assert.Contains("other-full", kept); // old, but the newest of its instance
        Assert.Contains("a-inc3", kept);
        Assert.DoesNotContain("z-full1", kept);
    }

    private static async Task<BackupRepository> RepoWithSetsAsync(string dir, int count)
    {
        // Format 1: each set's chunks in its own folder, which these tests look at (format 2's gc: SharedChunksTests).
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir), 1, null);
        for (int i = 0; i < count; i++)
        {
            var w = repo.BeginSet($"set{i}", Codec.None, chunkSize: 64 << 10);
            await w.AddFileAsync("databases/a.bdb", new MemoryStream(new byte[200_000]));
            await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = (uint)(i * 2 + 1), GenHigh = (uint)(i * 2 + 2), Ended = Day.AddHours(i) }));
        }
        return repo;
    }

    [Fact]
    public async Task A_forgotten_set_stops_existing_at_once_and_its_data_goes_with_gc_after_the_grace()
    {
        using var dir = new TempDir();
        var repo = await RepoWithSetsAsync(dir.Path, 3);
        await repo.ForgetAsync("set0");
        Assert.Equal(["set1", "set2"], (await repo.ListSetsAsync()).Select(s => s.SetId));
        Assert.True(File.Exists(Path.Combine(dir.Path, "sets", "set0", "chunks", "0000-000000")), "the chunks stay until gc");
        Assert.Empty((await repo.CollectGarbageAsync(TimeSpan.FromHours(1))).Removed); // forgotten just now: within the grace
        var gc = await repo.CollectGarbageAsync(TimeSpan.Zero);
        Assert.Equal(["set0"], gc.Removed);
        Assert.True(gc.RemovedBytes >= 200_000);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "sets", "set0")));
        await repo.ForgetAsync("set1"); // and again after an interruption: idempotent
        await repo.ForgetAsync("set1");
        Assert.Equal(["set2"], (await repo.ListSetsAsync()).Select(s => s.SetId));
    }

    [Fact]
    public async Task Two_maintainers_never_hold_the_lock_at_once_and_an_expired_lock_is_taken_over()
    {
        using var dir = new TempDir();
        var repo = await RepoWithSetsAsync(dir.Path, 1);
        var first = await RepositoryLock.AcquireAsync(repo, "forget", TimeSpan.FromMinutes(10), default);
        var refused = await Assert.ThrowsAsync<RepositoryException>(() => RepositoryLock.AcquireAsync(repo, "gc", TimeSpan.FromMinutes(10), default));
        Assert.Contains("locked for forget", refused.Message, StringComparison.Ordinal);
        await first.DisposeAsync();
        var second = await RepositoryLock.AcquireAsync(repo, "gc", TimeSpan.FromMinutes(10), default);
        await second.DisposeAsync();

        // A holder that died: its lock expired, so the next maintainer takes it.
        var stale = new LockRecord { Owner = "gone", Host = "elsewhere", Pid = 1, Purpose = "gc", Acquired = DateTime.UtcNow.AddHours(-2), Expires = DateTime.UtcNow.AddHours(-1) };
        await repo.Store.WriteAsync(RepositoryLock.Key, JsonSerializer.SerializeToUtf8Bytes(stale), default);
        var taken = await RepositoryLock.AcquireAsync(repo, "forget", TimeSpan.FromMinutes(10), default);
        await taken.DisposeAsync();
        Assert.False(File.Exists(Path.Combine(dir.Path, "locks", "maintenance.json")));
    }

    [Fact]
    public async Task A_lock_whose_holder_on_this_machine_is_gone_is_taken_over_before_its_lease_ends()
    {
        using var dir = new TempDir();
        var repo = await RepoWithSetsAsync(dir.Path, 1);
        // A process of this machine that has exited: its pid names no running process (a killed gc).
        using var exited = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        Assert.True(exited.WaitForExit(10_000));
        var dead = new LockRecord { Owner = "killed", Host = Environment.MachineName, Pid = exited.Id, Purpose = "gc", Acquired = DateTime.UtcNow, Expires = DateTime.UtcNow.AddMinutes(10) };
        await repo.Store.WriteAsync(RepositoryLock.Key, JsonSerializer.SerializeToUtf8Bytes(dead), default);
        var taken = await RepositoryLock.AcquireAsync(repo, "gc", TimeSpan.FromMinutes(10), default);
        await taken.DisposeAsync();

        // A live holder on this machine (this process), or any on another host, keeps it.
        var alive = new LockRecord { Owner = "alive", Host = Environment.MachineName, Pid = Environment.ProcessId, Purpose = "gc", Acquired = DateTime.UtcNow, Expires = DateTime.UtcNow.AddMinutes(10) };
        await repo.Store.WriteAsync(RepositoryLock.Key, JsonSerializer.SerializeToUtf8Bytes(alive), default);
        await Assert.ThrowsAsync<RepositoryException>(() => RepositoryLock.AcquireAsync(repo, "forget", TimeSpan.FromMinutes(10), default));
        var elsewhere = new LockRecord { Owner = "remote", Host = "elsewhere", Pid = exited.Id, Purpose = "gc", Acquired = DateTime.UtcNow, Expires = DateTime.UtcNow.AddMinutes(10) };
        await repo.Store.WriteAsync(RepositoryLock.Key, JsonSerializer.SerializeToUtf8Bytes(elsewhere), default);
        await Assert.ThrowsAsync<RepositoryException>(() => RepositoryLock.AcquireAsync(repo, "forget", TimeSpan.FromMinutes(10), default));
    }
}
