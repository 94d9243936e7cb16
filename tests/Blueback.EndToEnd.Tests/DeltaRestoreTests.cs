using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Storage;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback restore --delta</c>: over an older and damaged copy, only the pages that differ are rewritten,
/// and the instance that comes out is the set's, every page checked.</summary>
public class DeltaRestoreTests
{
    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_delta_restore_over_an_older_damaged_copy_rewrites_only_the_pages_that_differ_and_recovers_the_set()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var copy = dir["copy"];
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var value = new byte[8 << 10];
        var rng = new Random(11);
        for (int i = 0; i < 2000; i++)
        {
            rng.NextBytes(value);
            await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{i:D5}"), value);
        }
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        Assert.Equal(0, BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", repo).Exit);
        var first = BackupProgramTests.Cli("restore", "--repo", repo, "--to", copy);
        Assert.True(first.Exit == 0, first.Err);

        // A few rows change on the server, a new full set is taken; the old copy is damaged in two places meanwhile.
        var changed = new Dictionary<string, string>();
        for (int i = 0; i < 2000; i += 400)
        {
            changed[$"k{i:D5}"] = $"changed {i}";
            await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{i:D5}"), Encoding.UTF8.GetBytes(changed[$"k{i:D5}"]));
        }
        var second = JsonDocument.Parse(BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", repo, "--json").Out).RootElement.GetProperty("set").GetString()!;
        var mailbox = Path.Combine(copy, "store", "mailbox.bdb");
        await using (var f = new FileStream(mailbox, FileMode.Open, FileAccess.ReadWrite))
        {
            foreach (long at in new long[] { 8192L * 300 + 77, 8192L * 900 + 5000 })
            {
                f.Position = at;
                f.Write("bit rot"u8);
            }
        }
        Assert.NotEqual(0, BackupProgramTests.Cli("db", "checksum", mailbox).Exit);

        var delta = BackupProgramTests.Cli("restore", "--repo", repo, "--set", second, "--to", copy, "--delta", "--json");
        Assert.True(delta.Exit == 0, delta.Err);
        var report = JsonDocument.Parse(delta.Out).RootElement.GetProperty("delta").EnumerateArray().Single(d => d.GetProperty("database").GetString() == "mailbox");
        long pages = report.GetProperty("pages").GetInt64(), rewritten = report.GetProperty("rewritten").GetInt64();
        Assert.False(report.GetProperty("wholeFile").GetBoolean());
        Assert.True(report.GetProperty("damaged").GetInt64() >= 2, delta.Out);
        Assert.InRange(rewritten, 3, pages / 4); // the damaged pages, the changed rows' pages, headers and trailer
        var check = BackupProgramTests.Cli("db", "checksum", mailbox);
        Assert.True(check.Exit == 0, check.Out);

        using var inst = StorageInstance.Open(Path.Combine(copy, "store"), new InstanceOptions());
        using var r = inst.BeginRead();
        var db = inst.GetDatabase("mailbox");
        Assert.Equal(2000, r.Scan(db, "t").Count());
        foreach (var (k, v) in changed)
        {
            Assert.Equal(v, Encoding.UTF8.GetString(r.Get(db, "t", Encoding.UTF8.GetBytes(k))!));
        }
    }

    [Fact(Timeout = 120_000)]
    public Task A_delta_restore_online_is_refused_with_what_to_do() => Task.Run(() =>
    {
        // Bounded twice: the test's timeout, and the helper kills each command after 180 s.
        using var dir = new TempDir();
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", dir["repo"]).Exit);
        var r = BackupProgramTests.Cli("restore", "--repo", dir["repo"], "--server", "http://127.0.0.1:9", "--delta");
        Assert.NotEqual(0, r.Exit);
        Assert.Contains("--to DIR", r.Err, StringComparison.Ordinal);
    });
}
