using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

public partial class StandbyTests
{
    /// <summary>The second site serves as well as the first: a standby following a copy of the primary's repository
    /// (sets and shipped generations, <c>repo copy --all</c>) is promoted with every acknowledged commit.</summary>
    [Fact(Timeout = 400_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_standby_follows_a_copy_of_the_primarys_repository_and_is_promoted_with_every_shipped_commit()
    {
        using var dir = new TempDir();
        var (a, b) = (dir["site-a"], dir["site-b"]);
        using var primary = await ShippingTests.ServerWithFullSetAsync(a, dir["primary"]);
        using var pc = new BluebackClient(primary.Url);
        long[] acked;
        using (var shipper = ShipperProcess.Start("--server", primary.Url, "--repo", a, "--max-lag", "1s", "--quiet"))
        {
            var writers = new RestoreProgramTests.Writers(pc, 3);
            await using (writers)
            {
                await Task.Delay(4000);
            }
            acked = writers.Snapshot();
            await WaitAsync(async () => (await pc.StatusAsync()).Instances.Single(i => i.Name == "store").Shipping is { UnshippedGenerations: 0, OldestUnshipped: null },
                TimeSpan.FromSeconds(60), async () => $"primary still has unshipped logs: {System.Text.Json.JsonSerializer.Serialize((await pc.StatusAsync()).Instances[0].Shipping)}");
            await shipper.TerminateAsync(TimeSpan.FromSeconds(20));
        }

        Assert.Equal(0, Cli("repo", "init", b).Exit);
        var copy = Cli("repo", "copy", "--from", a, "--to", b, "--all", "--json");
        Assert.True(copy.Exit == 0, copy.Out + copy.Err);
        using var standby = await ServerProcess.StartStandbyAsync(dir["standby"], ["--repo", b, "--instance", "store"]);
        using var sc = new BluebackClient(standby.Url);
        await WaitCaughtUpAsync(pc, sc);
        var promote = Cli("standby", "promote", "--server", standby.Url);
        Assert.True(promote.Exit == 0, promote.Out + promote.Err);
        await standby.TerminateAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(acked, RestoreProgramTests.StateOf(Path.Combine(dir["standby"], "store"), 3));
    }
}
