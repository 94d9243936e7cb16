using System.Text;
using Blueback.Client;
using Blueback.Protocol;
using static Blueback.EndToEnd.Tests.StandbyTests;

namespace Blueback.EndToEnd.Tests;

/// <summary>A page damaged under a running server (docs/engine.md, "Pages that repair themselves"): with
/// <c>--repair-from</c> a warm standby, the read that meets it repairs it from the standby, every read answers right,
/// the server log names the database, the page and the source, and <c>blueback db checksum</c> is clean after.</summary>
public class PageRepairTests
{
    private const int PageSize = 8192;
    internal const int Keys = 700;

    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    internal static byte[] Value(int i) => Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat($"value-{i:D5};", 400))); // ~4.8 KB: one or two to a page

    /// <summary>Flips a byte of page <paramref name="victim"/> of a database file a running server has open, as a
    /// failing disk would, and checks that <c>db checksum</c> sees it.</summary>
    internal static void Damage(string file, uint victim)
    {
        Assert.True(new FileInfo(file).Length > (victim + 1) * PageSize, "the database is too small for the test");
        using (var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            fs.Position = victim * PageSize + 4000;
            int b = fs.ReadByte();
            fs.Position = victim * PageSize + 4000;
            fs.WriteByte((byte)(b ^ 0xFF));
            fs.Flush(flushToDisk: true);
        }
        Assert.Equal(1, Cli("db", "checksum", file).Exit); // damaged, under the running server
    }

    /// <summary>After the reads: one page repaired, as the status, the server log (naming the page and
    /// <paramref name="source"/>), the alerts and the metrics say, and the file clean under the running server.</summary>
    internal static async Task AssertRepairedAsync(ServerProcess server, BluebackClient c, string file, uint victim, string source)
    {
        var status = (await c.StatusAsync()).Instances.Single(i => i.Name == "store");
        Assert.Equal(1, status.PagesRepaired);
        Assert.Contains($"Page {victim} of database 'mailbox' of instance store", server.Output, StringComparison.Ordinal);
        Assert.Contains($"repaired from {source}", server.Output, StringComparison.Ordinal);
        using (var http = TestToken.Http(server.Url))
        {
            var alerts = System.Text.Json.JsonSerializer.Deserialize(await http.GetStringAsync(Routes.Alerts), ProtocolJson.Default.AlertList)!;
            Assert.Contains(alerts.Alerts, a => a.Severity == "warning" && a.Subject == $"instance store, database mailbox, page {victim}" && a.Message.Contains(source, StringComparison.Ordinal));
            var metrics = await http.GetStringAsync(Routes.Metrics);
            MetricsTests.AssertExposed(metrics, MetricsTests.RepairFamilies);
            Assert.Contains("blueback_page_repairs_total{instance=\"store\",result=\"repaired\"} 1", metrics, StringComparison.Ordinal);
        }
        var clean = Cli("db", "checksum", file); // written in place, under the running server
        Assert.True(clean.Exit == 0, clean.Out + clean.Err);
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_page_damaged_under_a_running_server_is_repaired_from_a_standby_and_every_read_answers_right()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var data = dir["primary"];
        var standbyUrl = $"http://127.0.0.1:{MotoServer.FreePort()}";
        string[] repair = ["--repair-from", standbyUrl, "--repair-token-file", TestToken.File];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        ServerProcess standby;
        using (var first = await ServerProcess.StartAsync(data, false, repair))
        using (var pc = new BluebackClient(first.Url))
        {
            Assert.Equal(0, Cli("backup", "--server", first.Url, "--repo", repo).Exit);
            for (int i = 0; i < Keys; i++)
            {
                await pc.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{i:D5}"), Value(i));
            }
            using (ShipperProcess.Start("--server", first.Url, "--repo", repo, "--max-lag", "1s", "--quiet"))
            {
                standby = await ServerProcess.StartStandbyAsync(dir["standby"], "--repo", repo, "--instance", "store", "--listen", standbyUrl);
                using var sc = new BluebackClient(standby.Url);
                await WaitAsync(async () => (await StandbyStatusAsync(sc)).State == "following", TimeSpan.FromSeconds(60), async () => System.Text.Json.JsonSerializer.Serialize(await StandbyStatusAsync(sc)));
                await WaitCaughtUpAsync(pc, sc);
            }
            await first.TerminateAsync(TimeSpan.FromSeconds(30));
        }
        using (standby)
        {
            // Started again: nothing of the database is in its cache, so the reads below go to the disk.
            using var server = await ServerProcess.StartAsync(data, false, repair);
            using var c = new BluebackClient(server.Url);
            var file = Path.Combine(data, "store", "mailbox.bdb");
            const uint victim = 250;
            Damage(file, victim);

            for (int i = 0; i < Keys; i++)
            {
                Assert.Equal(Value(i), await c.GetAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{i:D5}")));
            }
            await AssertRepairedAsync(server, c, file, victim, $"standby {standbyUrl}");
            await server.TerminateAsync(TimeSpan.FromSeconds(30));
        }
    }
}
