using System.Text.Json;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback forget</c> on a repository that real backups wrote: a dry run changes nothing and says why
/// each set stays; the real run keeps what the kept sets need, and what it keeps still verifies and restores.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class ForgetProgramTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static string Backup(ServerProcess server, string repo, string type)
    {
        var b = Cli("backup", "--server", server.Url, "--repo", repo, "--type", type, "--json");
        Assert.True(b.Exit == 0, b.Err);
        return JsonDocument.Parse(b.Out).RootElement.GetProperty("set").GetString()!;
    }

    private static List<string> Listed(string repo) =>
        JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement.EnumerateArray().Select(s => s.GetProperty("id").GetString()!).ToList();

    [Fact(Timeout = 300_000)]
    public async Task Forget_keeps_every_set_a_kept_set_needs_and_the_rest_goes_in_two_phases()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        string full1, inc1, inc2, full2, diff2, inc3;
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            async Task Write(string k) => await c.PutAsync("store", "mailbox", "t", System.Text.Encoding.UTF8.GetBytes(k), "v"u8.ToArray());
            await Write("a");
            full1 = Backup(server, repo, "full");
            await Write("b");
            inc1 = Backup(server, repo, "incremental");
            await Write("c");
            inc2 = Backup(server, repo, "incremental");
            await Write("d");
            full2 = Backup(server, repo, "full");
            await Write("e");
            diff2 = Backup(server, repo, "differential");
            await Write("f");
            inc3 = Backup(server, repo, "incremental");
        }
        Assert.Equal([full1, inc1, inc2, full2, diff2, inc3], Listed(repo));

        var refused = Cli("forget", "--repo", repo);
        Assert.NotEqual(0, refused.Exit);
        Assert.Contains("say what to keep", refused.Err, StringComparison.Ordinal);

        // keep-last 2: inc3 and diff2 by the rule, full2 because both need it.
        var dry = Cli("forget", "--repo", repo, "--keep-last", "2", "--dry-run");
        Assert.True(dry.Exit == 0, dry.Err);
        Assert.Contains($"keep   {full2}", dry.Out, StringComparison.Ordinal);
        Assert.Contains($"needed by incremental set {inc3}", dry.Out, StringComparison.Ordinal);
        Assert.Contains($"would forget {full1}", dry.Out, StringComparison.Ordinal);
        Assert.Equal(6, Listed(repo).Count); // the dry run changed nothing

        var run = Cli("forget", "--repo", repo, "--keep-last", "2", "--json");
        Assert.True(run.Exit == 0, run.Err);
        var forgotten = JsonDocument.Parse(run.Out).RootElement.GetProperty("forgotten").EnumerateArray().Select(s => s.GetProperty("id").GetString()).ToList();
        Assert.Equal([full1, inc1, inc2], forgotten);
        Assert.Equal([full2, diff2, inc3], Listed(repo));

        // What stays is whole: it verifies, and the newest chain restores with every write.
        var verify = Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out);
        var restore = Cli("restore", "--repo", repo, "--to", dir["restored"]);
        Assert.True(restore.Exit == 0, restore.Err);
        using (var restored = await ServerProcess.StartAsync(dir["restored"]))
        using (var c = new BluebackClient(restored.Url))
        {
            foreach (var k in new[] { "a", "b", "c", "d", "e", "f" })
            {
                Assert.NotNull(await c.GetAsync("store", "mailbox", "t", System.Text.Encoding.UTF8.GetBytes(k)));
            }
        }

        // The forgotten sets' data stays through the grace period, then gc frees it.
        Assert.True(Directory.Exists(Path.Combine(repo, "sets", full1)));
        Assert.Contains("No set to remove", Cli("repo", "gc", "--repo", repo).Out, StringComparison.Ordinal);
        var gc = Cli("repo", "gc", "--repo", repo, "--grace", "0");
        Assert.Contains("Removed 3 set(s)", gc.Out, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(repo, "sets", full1)));
        Assert.Equal(0, Cli("verify", "--repo", repo).Exit);
    }
}
