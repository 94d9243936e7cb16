using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using static Blueback.EndToEnd.Tests.StandbyTests;

namespace Blueback.EndToEnd.Tests;

/// <summary>A lagged standby (docs/standby.md, "A lagged standby") against real processes: a write appears only once
/// the apply delay has passed, a promotion to just before a bad write leaves it out, and a log volume running low
/// makes the standby play down early and say so.</summary>
public class LaggedStandbyTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static Task<byte[]?> ReadAsync(BluebackClient c, string key) => RetryAsync(() => c.GetAsync("store", "mailbox", "t", B(key)));

    private static async Task<string> Describe(BluebackClient c) => JsonSerializer.Serialize(await StandbyStatusAsync(c));

    /// <summary>Waits until the standby has fetched a commit it holds back.</summary>
    private static Task WaitHeldAsync(BluebackClient sc) =>
        WaitAsync(async () => (await StandbyStatusAsync(sc)).OldestWaitingCommit is not null, TimeSpan.FromSeconds(30), () => Describe(sc));

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_lagged_standby_shows_a_write_only_once_its_delay_has_passed_and_is_promoted_to_just_before_a_bad_write()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var primary = await ShippingTests.ServerWithFullSetAsync(repo, dir["primary"]);
        using var pc = new BluebackClient(primary.Url);
        using var shipper = ShipperProcess.Start("--server", primary.Url, "--repo", repo, "--max-lag", "1s", "--quiet");
        var delay = TimeSpan.FromSeconds(15);
        using var standby = await ServerProcess.StartStandbyAsync(dir["standby"], "--repo", repo, "--instance", "store", "--apply-delay", "15s");
        using var sc = new BluebackClient(standby.Url);
        await WaitAsync(async () => (await StandbyStatusAsync(sc)).State == "following", TimeSpan.FromSeconds(60), () => Describe(sc));

        var goodSent = DateTime.UtcNow;
        await pc.PutAsync("store", "mailbox", "t", B("good"), new byte[] { 1 });
        var goodAcked = DateTime.UtcNow;
        await Task.Delay(7000); // the bad write comes due 7 s after the good one shows: room for the promotion
        var badSent = DateTime.UtcNow;
        await pc.PutAsync("store", "mailbox", "t", B("bad"), new byte[] { 2 });

        // Shipped and fetched at once, yet held back.
        await WaitHeldAsync(sc);
        var held = await StandbyStatusAsync(sc);
        Assert.True(DateTime.UtcNow < goodSent + delay, $"shipping took longer than the delay, the hold could not be seen: {await Describe(sc)}");
        Assert.Null(await ReadAsync(sc, "good"));
        Assert.Equal(15, held.ApplyDelaySeconds);
        Assert.True(held.WaitingGenerations >= 1 && held.WaitingBytes > 0, await Describe(sc));
        Assert.True(held.OldestWaitingCommit >= goodSent.AddSeconds(-1) && held.OldestWaitingCommit <= goodAcked.AddSeconds(1), await Describe(sc)); // the primary's clock is this machine's
        Assert.Null(held.PlayDown);
        var shown0 = Cli("standby", "status", "--server", standby.Url, "--token-file", TestToken.File);
        Assert.True(shown0.Exit == 0, shown0.Err);
        Assert.Contains("apply delay 15 s", shown0.Out, StringComparison.Ordinal);
        Assert.Contains("oldest commit", shown0.Out, StringComparison.Ordinal);

        // Shown once the delay has passed, the bad write still held.
        await WaitAsync(async () => await ReadAsync(sc, "good") is not null, TimeSpan.FromSeconds(40), () => Describe(sc));
        var shown = DateTime.UtcNow;
        Assert.True(shown >= goodSent + delay, $"'good' shown {(shown - goodSent).TotalSeconds:0.0} s after it was written, before the 15 s delay");
        Assert.Null(await ReadAsync(sc, "bad"));
        Assert.NotNull((await StandbyStatusAsync(sc)).OldestWaitingCommit);

        // The way back: promote to between the two writes. A point the standby already applied past is refused first.
        var past = await Assert.ThrowsAsync<BluebackApiException>(() => sc.PromoteAsync("store", goodSent.AddSeconds(-1).ToString("O")));
        Assert.Equal(System.Net.HttpStatusCode.Conflict, past.Status);
        Assert.Contains("applied past it", past.Message, StringComparison.Ordinal);
        var between = goodAcked + (badSent - goodAcked) / 2;
        var promote = Cli("standby", "promote", "--server", standby.Url, "--to-time", between.ToString("O"));
        Assert.True(promote.Exit == 0, promote.Err + promote.Out);
        Assert.Contains("down to", promote.Out, StringComparison.Ordinal);
        Assert.Equal(new byte[] { 1 }, await sc.GetAsync("store", "mailbox", "t", B("good")));
        Assert.Null(await sc.GetAsync("store", "mailbox", "t", B("bad")));
        await sc.PutAsync("store", "mailbox", "t", B("after"), new byte[] { 3 }); // a primary now
        Assert.Equal("online", (await sc.StatusAsync()).Instances.Single(i => i.Name == "store").State);
    }

    [Fact]
    public void Promote_refuses_both_stop_points_and_a_time_that_is_not_one()
    {
        var both = Cli("standby", "promote", "--server", "http://127.0.0.1:9", "--to-time", "2026-01-01T00:00:00Z", "--to-lsn", "3:4096");
        Assert.Equal(64, both.Exit);
        Assert.Contains("not both", both.Err, StringComparison.Ordinal);
        var lsn = Cli("standby", "promote", "--server", "http://127.0.0.1:9", "--to-lsn", "yesterday");
        Assert.Equal(64, lsn.Exit);
        Assert.Contains("not a log position", lsn.Err, StringComparison.Ordinal);
    }

    /// <summary>The standby's directory on a small tmpfs of its own; a filler leaves it less free space than
    /// --min-log-free: the standby plays down what it holds (the write shows long before the hour's delay), says so in
    /// its status and metrics, and holds its delay again once the filler goes.</summary>
    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_lagged_standby_whose_log_volume_runs_low_plays_down_early_and_says_so()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var volume = dir["standby"];
        Directory.CreateDirectory(volume);
        NetworkNamespace.Run("mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", volume);
        try
        {
            using var primary = await ShippingTests.ServerWithFullSetAsync(repo, dir["primary"]);
            using var pc = new BluebackClient(primary.Url);
            using var shipper = ShipperProcess.Start("--server", primary.Url, "--repo", repo, "--max-lag", "1s", "--quiet");
            using var standby = await ServerProcess.StartStandbyAsync(volume, "--repo", repo, "--instance", "store", "--apply-delay", "1h", "--min-log-free", "24M");
            using var sc = new BluebackClient(standby.Url);
            await WaitAsync(async () => (await StandbyStatusAsync(sc)).State == "following", TimeSpan.FromSeconds(60), () => Describe(sc));

            await pc.PutAsync("store", "mailbox", "t", B("w1"), new byte[] { 1 });
            await WaitHeldAsync(sc);
            Assert.Null(await ReadAsync(sc, "w1"));
            Assert.Null((await StandbyStatusAsync(sc)).PlayDown);

            var filler = Path.Combine(volume, "filler");
            long free = new DriveInfo(volume).AvailableFreeSpace;
            Assert.True(free > 24L << 20, $"the tmpfs has only {free} bytes free after the standby's restore");
            await using (var f = File.Create(filler))
            {
                f.SetLength(0);
                var block = new byte[1 << 20];
                for (long left = free - (12L << 20); left > 0; left -= block.Length)
                {
                    f.Write(block); // written, not sparse: tmpfs counts what is written
                }
            }
            await WaitAsync(async () => await ReadAsync(sc, "w1") is not null, TimeSpan.FromSeconds(30), () => Describe(sc));
            var low = await StandbyStatusAsync(sc);
            Assert.Contains("--min-log-free", low.PlayDown, StringComparison.Ordinal);
            Assert.True(low.PlayDowns >= 1, await Describe(sc));
            using (var http = TestToken.Http(standby.Url))
            {
                Assert.Matches("blueback_standby_play_downs_total\\{instance=\"store\"\\} [1-9]", await http.GetStringAsync(Routes.Metrics));
            }
            Assert.Contains("plays down early", standby.Output, StringComparison.Ordinal);

            File.Delete(filler);
            await WaitAsync(async () => (await StandbyStatusAsync(sc)).PlayDown is null, TimeSpan.FromSeconds(30), () => Describe(sc));
            await pc.PutAsync("store", "mailbox", "t", B("w2"), new byte[] { 2 });
            await WaitHeldAsync(sc);
            Assert.Null(await ReadAsync(sc, "w2")); // the delay is held again
            await standby.TerminateAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            NetworkNamespace.Run("umount", "-l", volume);
        }
    }
}
