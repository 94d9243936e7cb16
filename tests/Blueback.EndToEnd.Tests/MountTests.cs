using System.Text;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback mount</c> against real processes (docs/restore.md): a set served read-only from a local and
/// an S3 (moto) repository answers every read as the instance held it at the set, refuses writes with 409 naming the
/// set, fetches far less than the set holds for a few reads, shows the state at a stop time between two shipped
/// generations, and stops promptly on SIGTERM leaving no cache behind.</summary>
public class MountTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static readonly (string Database, string Table)[] Tables = [("mailbox", "inbox"), ("mailbox", "sent"), ("public", "folders")];

    /// <summary>Numbered keys per table, values that name the round that wrote them.</summary>
    private static async Task WriteRoundAsync(BluebackClient c, string round, int keys)
    {
        foreach (var (db, table) in Tables)
        {
            for (int i = 0; i < keys; i += 50)
            {
                var ops = Enumerable.Range(i, Math.Min(50, keys - i))
                    .Select(k => new BatchOp { Op = "put", Database = db, Table = table, Key = $"k{k:D5}", Value = $"{round}-{db}-{table}-{k}" }).ToList();
                await c.BatchAsync("store", new BatchRequest { Ops = ops });
            }
        }
    }

    private static async Task<Dictionary<string, string>> ReadAllAsync(BluebackClient c)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (db, table) in Tables)
        {
            string? from = null;
            while (true)
            {
                var page = await c.ScanAsync("store", db, table, from: from, limit: 500);
                foreach (var item in page.Items)
                {
                    var value = await c.GetAsync("store", db, table, Encoding.UTF8.GetBytes(item.Key));
                    all[$"{db}/{table}/{item.Key}"] = Encoding.UTF8.GetString(value!);
                }
                if (page.Next?.From is not { } next)
                {
                    break;
                }
                from = next;
            }
        }
        return all;
    }

    private static async Task<MountStatus> MountStatusAsync(BluebackClient c) =>
        (await c.StatusAsync()).Instances.Single(i => i.Name == "store").Mount!;

    /// <summary>A server with three small tables and a large one (so that the set spans many chunks), a full set of it,
    /// and a change after the set; mounts the set and checks it, then stops the mount with SIGTERM.</summary>
    private static async Task MountAndCheckAsync(TempDir dir, string repo, string[] repoArgs)
    {
        Assert.Equal(0, Cli(["repo", "init", repo, .. repoArgs]).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await WriteRoundAsync(c, "set", 300);
        var load = Cli("load", "--server", server.Url, "--table", "bulk", "--ops", "6000", "--value-size", "8192", "--batch", "50", "--writers", "4");
        Assert.True(load.Exit == 0, load.Err);
        var expected = await ReadAllAsync(c);
        var full = Cli(["backup", "--server", server.Url, "--repo", repo, "--json", .. repoArgs]);
        Assert.True(full.Exit == 0, full.Err);
        await WriteRoundAsync(c, "after", 320); // changes 300 keys and adds 20 per table: none may show in the mount
        await c.PutAsync("store", "public", "later", "x"u8.ToArray(), "y"u8.ToArray());

        var cache = dir["cache"];
        var mount = await ServerProcess.StartMountAsync(cache, ["--repo", repo, "--cache-max-bytes", "64M", .. repoArgs]);
        try
        {
            using var m = new BluebackClient(mount.Url);
            var first = await c.GetAsync("store", "mailbox", "inbox", "k00007"u8.ToArray());
            Assert.Equal("after-mailbox-inbox-7", Encoding.UTF8.GetString(first!)); // the live server moved on
            Assert.Equal("set-mailbox-inbox-7", Encoding.UTF8.GetString((await m.GetAsync("store", "mailbox", "inbox", "k00007"u8.ToArray()))!));
            var afterFewReads = await MountStatusAsync(m);
            Assert.True(afterFewReads.ImageBytes > 40L << 20, $"the set's images are only {afterFewReads.ImageBytes} bytes: too small to show lazy reads");
            Assert.True(afterFewReads.BytesFetched * 4 < afterFewReads.ImageBytes,
                $"{afterFewReads.BytesFetched} bytes fetched ({afterFewReads.ChunksFetched} chunks) for the mount and one read of a set of {afterFewReads.ImageBytes}: not lazy");

            Assert.Equal(expected, await ReadAllAsync(m)); // every key and value exactly as at the set, no later ones
            Assert.Null(await m.GetAsync("store", "public", "later", "x"u8.ToArray()));
            Assert.Null(await m.GetAsync("store", "mailbox", "inbox", "k00310"u8.ToArray()));

            var put = await Assert.ThrowsAsync<BluebackApiException>(() => m.PutAsync("store", "mailbox", "inbox", "k00001"u8.ToArray(), "x"u8.ToArray()));
            var delete = await Assert.ThrowsAsync<BluebackApiException>(() => m.DeleteAsync("store", "mailbox", "inbox", "k00001"u8.ToArray()));
            var batch = await Assert.ThrowsAsync<BluebackApiException>(() => m.BatchAsync("store", new BatchRequest { Ops = [new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = "a", Value = "b" }] }));
            var setId = System.Text.Json.JsonDocument.Parse(full.Out).RootElement.GetProperty("set").GetString()!;
            foreach (var refused in new[] { put, delete, batch })
            {
                Assert.Equal(System.Net.HttpStatusCode.Conflict, refused.Status);
                Assert.Contains("mounted backup set", refused.Message, StringComparison.Ordinal);
                Assert.Contains(setId, refused.Message, StringComparison.Ordinal);
            }
            // Nor may a restore add an instance beside the mounted one.
            var restore = await Assert.ThrowsAsync<BluebackApiException>(() => m.BeginRestoreAsync("beside", new BeginRestoreRequest { Repository = "r", Sets = ["s"], SourceInstance = "store", SourceServer = "x" }));
            Assert.Equal(System.Net.HttpStatusCode.Conflict, restore.Status);
            Assert.Contains("mounted backup set", restore.Message, StringComparison.Ordinal);
            var status = (await m.StatusAsync()).Instances.Single(i => i.Name == "store");
            Assert.Equal("mounted", status.State);
            Assert.True(status.Mount!.CacheBytes <= 64L << 20, $"cache {status.Mount.CacheBytes} bytes over its bound");
            Assert.True(status.Mount.ChunksFetched > 0 && status.Mount.CacheHits > 0);
            Assert.Equal(expected["mailbox/sent/k00299"], Encoding.UTF8.GetString((await m.GetAsync("store", "mailbox", "sent", "k00299"u8.ToArray()))!));

            Assert.Single(Directory.GetDirectories(cache)); // the mount's own directory, while it runs
            var took = await mount.TerminateAsync(TimeSpan.FromSeconds(15));
            Assert.True(took < TimeSpan.FromSeconds(10), $"SIGTERM took {took.TotalSeconds:0.0} s");
            Assert.Equal(0, mount.ExitCode);
            Assert.Empty(Directory.GetFileSystemEntries(cache)); // the chunk cache and the overlay are gone
            Assert.Contains("chunk(s) fetched", mount.Output, StringComparison.Ordinal);
        }
        finally
        {
            mount.Dispose();
        }
    }

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_set_mounted_from_a_local_repository_answers_every_read_as_at_the_set_refuses_writes_and_fetches_only_what_reads_need()
    {
        using var dir = new TempDir();
        await MountAndCheckAsync(dir, dir["repo"], []);
    }

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_set_mounted_from_S3_answers_every_read_as_at_the_set_refuses_writes_and_fetches_only_what_reads_need()
    {
        using var dir = new TempDir();
        using var moto = await MotoServer.StartAsync();
        await MountAndCheckAsync(dir, $"s3://{MotoServer.Bucket}/mount", ["--s3-endpoint", moto.Endpoint]);
    }

    /// <summary>A chain of a full set and two changed-pages incrementals: the mount lays each incremental's pages over
    /// the full set's image (in the overlay) and replays the last one's logs, so it answers as at the last set.</summary>
    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_chain_with_changed_pages_sets_mounts_as_at_its_last_set()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await WriteRoundAsync(c, "full", 300);
        var load = Cli("load", "--server", server.Url, "--table", "bulk", "--ops", "2000", "--value-size", "8192", "--batch", "50", "--writers", "2");
        Assert.True(load.Exit == 0, load.Err);
        var full = Cli("backup", "--server", server.Url, "--repo", repo);
        Assert.True(full.Exit == 0, full.Out + full.Err);
        await WriteRoundAsync(c, "inc1", 150);
        var inc1 = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--changed-pages");
        Assert.True(inc1.Exit == 0, inc1.Out + inc1.Err);
        await WriteRoundAsync(c, "inc2", 60);
        await c.PutAsync("store", "public", "added", "x"u8.ToArray(), "y"u8.ToArray());
        var inc2 = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--changed-pages", "--json");
        Assert.True(inc2.Exit == 0, inc2.Out + inc2.Err);
        var expected = await ReadAllAsync(c);
        await WriteRoundAsync(c, "after", 40); // after the last set: must not show

        using var mount = await ServerProcess.StartMountAsync(dir["cache"], "--repo", repo);
        using var m = new BluebackClient(mount.Url);
        Assert.Equal(expected, await ReadAllAsync(m));
        Assert.Equal("y", Encoding.UTF8.GetString((await m.GetAsync("store", "public", "added", "x"u8.ToArray()))!));
        Assert.Equal("inc2-mailbox-sent-5", Encoding.UTF8.GetString((await m.GetAsync("store", "mailbox", "sent", "k00005"u8.ToArray()))!));
        Assert.Equal("inc1-mailbox-sent-100", Encoding.UTF8.GetString((await m.GetAsync("store", "mailbox", "sent", "k00100"u8.ToArray()))!));
        var setId = System.Text.Json.JsonDocument.Parse(inc2.Out).RootElement.GetProperty("set").GetString()!;
        Assert.Contains(setId, (await MountStatusAsync(m)).Set, StringComparison.Ordinal);
        await mount.TerminateAsync(TimeSpan.FromSeconds(15));
    }

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_mount_with_a_stop_time_between_two_shipped_generations_shows_the_instance_as_it_was_then()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ShippingTests.ServerWithFullSetAsync(repo, dir["data"]);
        using var c = new BluebackClient(server.Url);
        using var shipper = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "1s", "--quiet");
        await WriteRoundAsync(c, "one", 100);
        var atOne = await ReadAllAsync(c);
        await WaitShippedAsync(c);
        await Task.Delay(1100);
        var stop = DateTime.UtcNow;
        await Task.Delay(1100);
        await WriteRoundAsync(c, "two", 120);
        await WaitShippedAsync(c);

        using var mount = await ServerProcess.StartMountAsync(dir["cache"], "--repo", repo, "--stop-at", stop.ToString("O"));
        using var m = new BluebackClient(mount.Url);
        Assert.Equal(atOne, await ReadAllAsync(m));
        Assert.Contains("stopped at", (await MountStatusAsync(m)).Set, StringComparison.Ordinal);
        await mount.TerminateAsync(TimeSpan.FromSeconds(15));
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Ctrl_C_stops_a_mount_promptly_whether_mounting_or_serving_and_leaves_no_cache()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using (var server = await ShippingTests.ServerWithFullSetAsync(repo, dir["data"]))
        {
            using var c = new BluebackClient(server.Url);
            await WriteRoundAsync(c, "set", 200);
            Assert.Equal(0, Cli("backup", "--server", server.Url, "--repo", repo).Exit);
        }
        var cache = dir["cache"];
        foreach (var delay in new[] { 2.0, 8.0 }) // most likely while mounting, then most likely while serving
        {
            var run = await PtySignal.RunAsync("INT", delay, "dotnet", ServerProcess.Cli, "mount", "--repo", repo, "--cache", cache, "--listen", "http://127.0.0.1:0", "--token-file", TestToken.File);
            Assert.True(run.Outcome == "interrupted" && run.Exit is 0 or 130, $"^C after {delay} s: {run}");
            Assert.True(run.Ms < 10_000, $"^C after {delay} s: exited {run.Ms:0} ms after the signal");
            Assert.True(!Directory.Exists(cache) || Directory.GetFileSystemEntries(cache).Length == 0, $"^C after {delay} s left {string.Join(", ", Directory.GetFileSystemEntries(cache))}");
        }
    }

    private static Task WaitShippedAsync(BluebackClient c) =>
        StandbyTests.WaitAsync(async () => (await c.StatusAsync()).Instances.Single(i => i.Name == "store").Shipping is { UnshippedGenerations: 0, OldestUnshipped: null },
            TimeSpan.FromSeconds(60), async () => System.Text.Json.JsonSerializer.Serialize((await c.StatusAsync()).Instances.Single(i => i.Name == "store").Shipping));
}
