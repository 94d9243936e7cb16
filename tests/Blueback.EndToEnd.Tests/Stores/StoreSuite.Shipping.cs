using System.Text.Json;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests.Stores;

/// <summary>The log's way through each store: shipping under writers through a shipper killed outright and started
/// again, a standby following the store to the last acknowledged commit, a proof of the set, and an online restore
/// from the store into the running server.</summary>
public abstract partial class StoreSuite<TStore>
    where TStore : class, IStoreUnderTest
{
    [Fact(Timeout = 900_000)]
    public async Task Shipping_through_a_killed_shipper_a_standby_following_a_proof_and_an_online_restore()
    {
        using var dir = Store.Scratch();
        var repo = Store.Repo($"ship-{Guid.NewGuid():N}");
        Ok(Cli("repo", "init", repo), "repo init");
        using var primary = await ServerProcess.StartAsync(dir["primary"]);
        using var pc = new BluebackClient(primary.Url);
        await BackupApiTests.FillAsync(pc);
        var full = SetOf(Ok(Cli("backup", "--server", primary.Url, "--repo", repo, "--type", "full", "--json"), "full backup"));
        string[] ship = ["--server", primary.Url, "--repo", repo, "--max-lag", "1s", .. Store.Args];

        long[] acked;
        ServerProcess standby;
        var writers = new RestoreProgramTests.Writers(pc, 3);
        await using (writers)
        {
            // The first shipper is killed outright once it has shipped; the second takes over where it stopped.
            using (var first = ShipperProcess.Start(ship))
            {
                await first.WaitShippingAsync(TimeSpan.FromSeconds(90));
                first.Kill();
            }
            using var second = ShipperProcess.Start([.. ship, "--quiet"]);
            standby = await ServerProcess.StartStandbyAsync(dir["standby"], ["--repo", repo, "--instance", "store", .. Store.Args]);
            using var sc = new BluebackClient(standby.Url);
            await StandbyTests.WaitAsync(async () => (await StandbyTests.StandbyStatusAsync(sc)).State == "following", TimeSpan.FromSeconds(90),
                async () => JsonSerializer.Serialize(await StandbyTests.StandbyStatusAsync(sc)));
            await Task.Delay(2000);
            await writers.DisposeAsync();
            acked = writers.Snapshot();
            await StandbyTests.WaitCaughtUpAsync(pc, sc);
            await second.TerminateAsync(TimeSpan.FromSeconds(20));
        }
        using (standby)
        {
            Ok(BackupProgramTests.Cli("standby", "promote", "--server", standby.Url), "standby promote"); // a server call: no store options
            await standby.TerminateAsync(TimeSpan.FromSeconds(20));
        }
        // Every acknowledged commit reached the standby through the store, across the kill.
        Assert.Equal(acked, RestoreProgramTests.StateOf(Path.Combine(dir["standby"], "store"), 3));

        Ok(Cli("prove", "--repo", repo, "--set", full, "--scratch", dir["scratch"]), "prove");
        var restored = JsonDocument.Parse(Ok(Cli("restore", "--repo", repo, "--set", full, "--server", primary.Url, "--as", "from-store", "--json"), "online restore")).RootElement;
        Assert.True(restored.GetProperty("wire").GetInt64() > 0);
        Assert.NotNull(await pc.GetAsync("from-store", "mailbox", "t", "k0000"u8.ToArray()));
    }
}
