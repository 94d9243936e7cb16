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
}
