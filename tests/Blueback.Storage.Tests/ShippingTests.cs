using Blueback.Storage.Log;
using Blueback.Storage.Shipping;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>The engine's side of log shipping: the mark pins every unshipped generation across checkpoints and
/// restarts, the early close of an aged generation, acknowledgement (monotonic, deleting only what crash recovery
/// no longer needs), and the refusals.</summary>
public class ShippingTests
{
    private static readonly InstanceOptions Opts = Small.Options with { CheckpointLogBytes = 1 << 20, CircularLogging = false };

    private static StorageInstance New(string dir)
    {
        var inst = StorageInstance.Create(dir, Opts);
        inst.CreateDatabase("a");
        return inst;
    }

    private static void Write(StorageInstance inst, int count)
    {
        var a = inst.GetDatabase("a");
        for (int i = 0; i < count; i++)
        {
            using var tx = inst.BeginWrite();
            tx.Put(a, "t", B($"k{i}"), new byte[100]);
            tx.Commit(CommitMode.Durable);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task An_aged_generation_is_closed_early_and_an_empty_one_is_not()
    {
        using var dir = new TempDir();
        using var inst = New(dir["i"]);
        var idle = await inst.CloseForShippingAsync(TimeSpan.Zero, CancellationToken.None);
        uint before = idle.CompleteThrough;
        Assert.Null((await inst.CloseForShippingAsync(TimeSpan.Zero, CancellationToken.None)).Cover); // nothing to age
        Write(inst, 1);
        var young = await inst.CloseForShippingAsync(TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.Equal(before, young.CompleteThrough);
        Assert.Null(young.Cover);
        var commitTime = DateTime.UtcNow;
        await Task.Delay(50);
        var aged = await inst.CloseForShippingAsync(TimeSpan.FromMilliseconds(20), CancellationToken.None);
        Assert.Equal(before + 1, aged.CompleteThrough);
        Assert.True(aged.Cover >= commitTime);
        var whole = inst.ReadForShipping(aged.CompleteThrough);
        Assert.Equal(1, whole.Commits);
        Assert.Throws<ShippingRefusedException>(() => inst.ReadForShipping(aged.CompleteThrough + 1));
    }

    [Fact(Timeout = 60_000)]
    public async Task The_mark_keeps_every_unshipped_generation_through_checkpoints_and_a_restart_and_an_ack_frees_them()
    {
        using var dir = new TempDir();
        uint shippedTo;
        using (var inst = New(dir["i"]))
        {
            inst.ClaimShipping("repo1", "/r", inst.CompleteThrough);
            for (int round = 0; round < 4; round++)
            {
                Write(inst, 20);
                await inst.CloseForShippingAsync(TimeSpan.Zero, CancellationToken.None);
                inst.Checkpoint();
            }
            var state = inst.ShippingNow()!;
            Assert.True(state.UnshippedGenerations >= 4);
            shippedTo = inst.CompleteThrough;
        }
        using (var inst = StorageInstance.Open(dir["i"], Opts))
        {
            Assert.Equal("repo1", inst.Shipping!.RepositoryId);
            var kept = LogFiles.List(inst.LogDirectory);
            uint first = inst.Shipping.ShippedThrough + 1;
            for (uint g = first; g <= shippedTo; g++)
            {
                Assert.Contains(g, kept);
            }
            Assert.Throws<ShippingRefusedException>(() => inst.AcknowledgeShipped("repo2", shippedTo));
            Assert.Throws<ShippingRefusedException>(() => inst.AcknowledgeShipped("repo1", inst.CompleteThrough + 1));
            inst.Checkpoint();
            var deleted = inst.AcknowledgeShipped("repo1", shippedTo);
            Assert.NotEmpty(deleted);
            Assert.All(deleted, g => Assert.True(g <= shippedTo));
            Assert.Equal(shippedTo, inst.Shipping!.ShippedThrough);
            inst.AcknowledgeShipped("repo1", first); // never back
            Assert.Equal(shippedTo, inst.Shipping!.ShippedThrough);
            // A new claim resuming from a generation no longer on the server is refused, naming it.
            var ex = Assert.Throws<ShippingRefusedException>(() => inst.ClaimShipping("repo3", "/other", deleted.Min() - 1));
            Assert.Contains($"generation {deleted.Min()}", ex.Message, StringComparison.Ordinal);
            var ahead = Assert.Throws<ShippingRefusedException>(() => inst.ClaimShipping("repo1", "/r", inst.CurrentGeneration + 5));
            Assert.Contains("history this instance does not have", ahead.Message, StringComparison.Ordinal);
            inst.StopShipping();
            Assert.Null(inst.ShippingNow());
        }
    }
}
