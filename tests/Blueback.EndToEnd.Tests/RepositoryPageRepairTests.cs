using System.Text;
using Blueback.Client;
using static Blueback.EndToEnd.Tests.PageRepairTests;

namespace Blueback.EndToEnd.Tests;

/// <summary>A page damaged under a running server repaired from a backup repository (docs/engine.md, "Pages that
/// repair themselves"): <c>serve --repair-from REPO</c>, a directory or an S3 bucket (on moto, encrypted), every read
/// answers right, the server log and the alerts name the repository and the set, and <c>db checksum</c> is clean after;
/// when the instance's log was truncated past the set, the read fails naming the missing generation.</summary>
public class RepositoryPageRepairTests
{
    private const uint Victim = 250;

    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static byte[] Key(int i) => Encoding.UTF8.GetBytes($"k{i:D5}");

    /// <summary>Fills the instance, takes a full backup into <paramref name="repo"/>, then changes half the keys (in the
    /// instance's own log only), and stops the server, so that the next start reads the database from disk.</summary>
    private static async Task PrepareAsync(string data, string[] repo)
    {
        using var server = await ServerProcess.StartAsync(data);
        using var c = new BluebackClient(server.Url);
        for (int i = 0; i < Keys; i++)
        {
            await c.PutAsync("store", "mailbox", "t", Key(i), Value(i));
        }
        var backup = Cli(["backup", "--server", server.Url, .. repo]);
        Assert.True(backup.Exit == 0, backup.Out + backup.Err);
        for (int i = 0; i < Keys; i += 2)
        {
            await c.PutAsync("store", "mailbox", "t", Key(i), Value(Keys - i)); // same size: the database does not grow
        }
        await server.TerminateAsync(TimeSpan.FromSeconds(30));
    }

    private static byte[] Expected(int i) => i % 2 == 0 ? Value(Keys - i) : Value(i);

    private static async Task RepairedAndEveryReadRightAsync(string data, string[] repair, string location)
    {
        using var server = await ServerProcess.StartAsync(data, false, repair);
        using var c = new BluebackClient(server.Url);
        var file = Path.Combine(data, "store", "mailbox.bdb");
        Damage(file, Victim);
        for (int i = 0; i < Keys; i++)
        {
            Assert.Equal(Expected(i), await c.GetAsync("store", "mailbox", "t", Key(i)));
        }
        await AssertRepairedAsync(server, c, file, Victim, $"repository {location} set ");
        await server.TerminateAsync(TimeSpan.FromSeconds(30));
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_page_damaged_under_a_running_server_is_repaired_from_a_local_repository()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        await PrepareAsync(dir["data"], ["--repo", repo]);
        await RepairedAndEveryReadRightAsync(dir["data"], ["--repair-from", repo], repo);
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_page_damaged_under_a_running_server_is_repaired_from_an_encrypted_repository_on_S3()
    {
        using var dir = new TempDir();
        using var moto = await MotoServer.StartAsync();
        var repo = $"s3://{MotoServer.Bucket}/repair";
        var key = Path.Combine(dir.Path, "repo.key");
        string[] s3 = ["--s3-endpoint", moto.Endpoint, "--key-file", key];
        var init = Cli(["repo", "init", repo, "--encrypt", .. s3]);
        Assert.True(init.Exit == 0, init.Err);
        await PrepareAsync(dir["data"], ["--repo", repo, .. s3]);
        await RepairedAndEveryReadRightAsync(dir["data"], ["--repair-from", repo, .. s3], repo);
    }

    /// <summary>With a shipper, the changes since the set leave the instance's log once shipped and checkpointed: the
    /// repair replays them from the repository's shipped generations.</summary>
    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_page_whose_changes_since_the_set_were_shipped_and_left_the_log_is_repaired_from_the_shipped_generations()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        {
            using var c = new BluebackClient(server.Url);
            for (int i = 0; i < Keys; i++)
            {
                await c.PutAsync("store", "mailbox", "t", Key(i), Value(i));
            }
            var backup = Cli("backup", "--server", server.Url, "--repo", repo);
            Assert.True(backup.Exit == 0, backup.Out + backup.Err);
            using (var shipper = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "1s"))
            {
                for (int i = 0; i < Keys; i += 2)
                {
                    await c.PutAsync("store", "mailbox", "t", Key(i), Value(Keys - i));
                }
                uint changedIn = (await c.StatusAsync()).Instances.Single(x => x.Name == "store").CurrentGeneration;
                // Writes elsewhere roll the log on; the shipper ships it and checkpoints delete what it shipped.
                var filler = new byte[16 << 10];
                var sw = System.Diagnostics.Stopwatch.StartNew();
                for (int n = 0; (await c.StatusAsync()).Instances.Single(x => x.Name == "store").OldestGeneration <= changedIn; n++)
                {
                    Assert.True(sw.Elapsed < TimeSpan.FromSeconds(120), $"generation {changedIn} is still in the instance's log after 120 s of shipping:\n{shipper.Out}\n{shipper.Err}");
                    for (int k = 0; k < 64; k++)
                    {
                        await c.PutAsync("store", "public", "filler", Encoding.UTF8.GetBytes($"f{(n * 64 + k) % 2048}"), filler);
                    }
                }
                await shipper.AssertStopsAsync(TimeSpan.FromSeconds(10));
            }
            await server.TerminateAsync(TimeSpan.FromSeconds(30));
        }
        await RepairedAndEveryReadRightAsync(dir["data"], ["--repair-from", repo], repo);
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_damaged_page_whose_log_was_truncated_past_the_newest_set_fails_its_read_naming_the_missing_generation()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var elsewhere = dir["elsewhere"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        Assert.Equal(0, Cli("repo", "init", elsewhere).Exit);
        await PrepareAsync(dir["data"], ["--repo", repo]);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        {
            // A full backup into another repository truncates the log past the end of the repair source's newest set.
            var backup = Cli("backup", "--server", server.Url, "--repo", elsewhere);
            Assert.True(backup.Exit == 0, backup.Out + backup.Err);
            await server.TerminateAsync(TimeSpan.FromSeconds(30));
        }
        using (var server = await ServerProcess.StartAsync(dir["data"], false, "--repair-from", repo))
        {
            using var c = new BluebackClient(server.Url);
            Damage(Path.Combine(dir["data"], "store", "mailbox.bdb"), Victim);
            var failures = new List<string>();
            for (int i = 0; i < Keys; i++)
            {
                try
                {
                    Assert.Equal(Expected(i), await c.GetAsync("store", "mailbox", "t", Key(i)));
                }
                catch (BluebackApiException ex)
                {
                    failures.Add(ex.Message);
                }
            }
            Assert.NotEmpty(failures);
            Assert.Contains(failures, f => f.Contains($"page {Victim}", StringComparison.Ordinal) && f.Contains("no longer holds generation", StringComparison.Ordinal));
            Assert.Contains("could not be repaired from repository", server.Output, StringComparison.Ordinal);
            Assert.Contains("Take a full backup into the repository", server.Output, StringComparison.Ordinal);
            await server.TerminateAsync(TimeSpan.FromSeconds(30));
        }
    }
}
