using Blueback.Storage.Backup;
using Blueback.Storage.Log;
using Blueback.Storage.Standby;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>The standby's engine: generations applied one at a time as they arrive, a transaction split across
/// generations applied whole or not at all, the read view refusing writes, and promotion onto a new log stream.</summary>
public class StandbyTests
{
    private static readonly InstanceOptions Opts = Small.Options with { CheckpointLogBytes = 1 << 20 };

    [Fact(Timeout = 60_000)]
    public async Task Generations_applied_one_by_one_never_show_half_a_transaction_and_promotion_starts_a_new_stream()
    {
        using var dir = new TempDir();
        using var primary = StorageInstance.Create(dir["primary"], Opts);
        var a = primary.CreateDatabase("a");
        void Put(int count, int valueBytes, string prefix, int n)
        {
            using var tx = primary.BeginWrite();
            for (int i = 0; i < count; i++)
            {
                tx.Put(a, "t", B($"{prefix}{i:D4}"), new byte[valueBytes]);
            }
            tx.Put(a, "t", B("n"), B(n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            tx.Commit(CommitMode.Durable);
        }
        Put(10, 100, "before", 1);
        var full = BackupMedia.Take(primary, BackupType.Full, truncate: false);
        full.ConsistentAfter = full.GenHigh;
        Put(10, 100, "small", 2);
        Put(60, 10_000, "big", 3); // about 600 KiB: several generations of 256 KiB
        Put(10, 100, "after", 4);
        var closed = await primary.CloseForShippingAsync(TimeSpan.Zero, CancellationToken.None);
        Assert.True(closed.CompleteThrough >= full.GenHigh + 3, $"the big transaction did not span generations ({full.GenHigh} to {closed.CompleteThrough})");

        var standbyDir = dir["standby"];
        full.WriteRestore(standbyDir);
        StandbyApplier.Initialize(standbyDir, "test", CancellationToken.None);
        var cont = StandbyApplier.Apply(standbyDir, null, CancellationToken.None).End;
        for (uint g = full.GenHigh + 1; g <= closed.CompleteThrough; g++)
        {
            StandbyApplier.AddGeneration(standbyDir, g, primary.ReadForShipping(g).Bytes.Span);
            cont = StandbyApplier.Apply(standbyDir, cont, CancellationToken.None, durable: g % 2 == 0).End;
            using var view = StorageInstance.OpenStandbyView(standbyDir, Opts);
            using var r = view.BeginRead();
            var db = view.GetDatabase("a");
            int n = int.Parse(System.Text.Encoding.UTF8.GetString(r.Get(db, "t", B("n"))!), System.Globalization.CultureInfo.InvariantCulture);
            int big = r.Scan(db, "t", B("big"), B("bih")).Count();
            Assert.True(n >= 3 ? big == 60 : big == 0, $"after generation {g}: n = {n} with {big} of the big transaction's 60 keys");
            Assert.Throws<StandbyException>(() => view.BeginWrite());
        }
        using (var view = StorageInstance.OpenStandbyView(standbyDir, Opts))
        {
            using var r = view.BeginRead();
            Assert.Equal("4", System.Text.Encoding.UTF8.GetString(r.Get(view.GetDatabase("a"), "t", B("n"))!));
        }
        var newStream = StandbyApplier.Promote(standbyDir);
        Assert.NotEqual(primary.LogSignature.Id, newStream.Id);
        Assert.Throws<StandbyException>(() => StandbyApplier.Apply(standbyDir, null, CancellationToken.None));
        using var promoted = StorageInstance.Open(standbyDir, Opts);
        Assert.Equal(newStream.Id, promoted.LogSignature.Id);
        using (var tx = promoted.BeginWrite())
        {
            tx.Put(promoted.GetDatabase("a"), "t", B("promoted"), B("yes"));
            tx.Commit(CommitMode.Durable);
        }
        using (var r = promoted.BeginRead())
        {
            Assert.Equal(60, r.Scan(promoted.GetDatabase("a"), "t", B("big"), B("bih")).Count());
        }
        Assert.DoesNotContain(LogFiles.List(promoted.LogDirectory), g => LogFiles.ReadHeader(promoted.LogDirectory, g).Header.LogSignature.Id == primary.LogSignature.Id);
    }

    /// <summary>A lagged standby's apply: a stop time between two commits of one generation applies the first and holds
    /// the second (the generation is not counted applied, its rest waits in the backlog with the held commit's time); the
    /// next apply without a stop picks up from there.</summary>
    [Fact(Timeout = 60_000)]
    public async Task An_apply_with_a_stop_time_cuts_a_generation_between_commits_and_the_next_apply_goes_on_from_there()
    {
        using var dir = new TempDir();
        using var primary = StorageInstance.Create(dir["primary"], Opts);
        var a = primary.CreateDatabase("a");
        void Put(string key)
        {
            using var tx = primary.BeginWrite();
            tx.Put(a, "t", B(key), B(key));
            tx.Commit(CommitMode.Durable);
        }
        var full = BackupMedia.Take(primary, BackupType.Full, truncate: false);
        full.ConsistentAfter = full.GenHigh;
        Put("early");
        await Task.Delay(30); // commit times are the clock's: the stop goes strictly between them
        var stop = DateTime.UtcNow;
        await Task.Delay(30);
        Put("late");
        var closed = await primary.CloseForShippingAsync(TimeSpan.Zero, CancellationToken.None);
        Assert.Equal(full.GenHigh + 1, closed.CompleteThrough); // both commits in one generation

        var standbyDir = dir["standby"];
        full.WriteRestore(standbyDir);
        StandbyApplier.Initialize(standbyDir, "test", CancellationToken.None);
        var cont = StandbyApplier.Apply(standbyDir, null, CancellationToken.None).End;
        StandbyApplier.AddGeneration(standbyDir, closed.CompleteThrough, primary.ReadForShipping(closed.CompleteThrough).Bytes.Span);
        var held = StandbyApplier.Apply(standbyDir, cont, CancellationToken.None, stop: Restore.RecoveryStop.AtTime(stop));
        Assert.NotNull(held.HeldCommit);
        Assert.True(held.HeldCommit > stop && held.LastCommit <= stop, $"held {held.HeldCommit:O}, last applied {held.LastCommit:O}, stop {stop:O}");
        Assert.Equal(full.GenHigh, held.AppliedThrough); // the generation is cut, not applied
        Assert.Equal(closed.CompleteThrough, held.End.Generation);
        var backlog = StandbyBacklog.Of(standbyDir, held.End, CancellationToken.None);
        Assert.Equal(1, backlog.Generations);
        Assert.True(backlog.Bytes > 0);
        Assert.Equal(held.HeldCommit, backlog.OldestCommit);
        Assert.Equal(["early"], Keys(standbyDir));

        var rest = StandbyApplier.Apply(standbyDir, held.End, CancellationToken.None);
        Assert.Null(rest.HeldCommit);
        Assert.Equal(closed.CompleteThrough, rest.AppliedThrough);
        Assert.Equal(["early", "late"], Keys(standbyDir));
        Assert.Null(StandbyBacklog.Of(standbyDir, rest.End, CancellationToken.None).OldestCommit);
    }

    private static List<string> Keys(string standbyDir)
    {
        using var view = StorageInstance.OpenStandbyView(standbyDir, Opts);
        using var r = view.BeginRead();
        return r.Scan(view.GetDatabase("a"), "t", B("a"), B("z")).Select(kv => S(kv.Key)).ToList();
    }
}
