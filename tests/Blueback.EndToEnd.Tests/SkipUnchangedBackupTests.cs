using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback backup --skip-unchanged</c> against a real server: a full that does not read again the pages
/// unchanged since the repository's newest full set began names that set's chunks instead, holds the same chunks a
/// full that reads every page holds, and restores to exactly the server's rows, also when writers change pages while
/// it runs (those are replayed from its logs); and it says so when it must read every page.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class SkipUnchangedBackupTests
{
    private const string Image = "databases/mailbox.bdb";

    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static JsonElement Json(params string[] args)
    {
        var r = Cli(args);
        Assert.True(r.Exit == 0, $"{string.Join(' ', args)}: exit {r.Exit}\n{r.Err}");
        return JsonDocument.Parse(r.Out).RootElement;
    }

    private static string SetOf(JsonElement backup) => backup.GetProperty("set").GetString()!;

    /// <summary>The ids of the chunks that hold the image's pages: all but the first (the header pages) and the last (the
    /// trailer page), which every backup writes anew.</summary>
    private static async Task<List<string>> PageChunksAsync(string repo, JsonElement backup)
    {
        var r = await BackupRepository.OpenAsync(new LocalDirectoryStore(repo));
        var chunks = (await r.ReadManifestAsync(SetOf(backup))).Files.Single(f => f.Path == Image).Chunks;
        return chunks.Skip(1).SkipLast(1).Select(c => c.Key).ToList();
    }

    /// <summary>A server whose mailbox holds 300 rows (a few pages), and an empty repository.</summary>
    private static async Task<ServerProcess> StartWithRowsAsync(TempDir dir, string repo)
    {
        var server = await ServerProcess.StartAsync(dir["data"]);
        try
        {
            using var c = new BluebackClient(server.Url);
            for (int i = 0; i < 300; i++)
            {
                await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{i:D4}"), Encoding.UTF8.GetBytes(new string('v', 1000)));
            }
            Assert.Equal(0, Cli("repo", "init", repo).Exit);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    private static async Task WriteUntilAsync(BluebackClient c, CancellationToken stop)
    {
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            await c.PutAsync("store", "mailbox", "w", Encoding.UTF8.GetBytes($"w{i % 500:D4}"), Encoding.UTF8.GetBytes($"{i} {new string('w', i % 700)}"));
        }
    }

    [Fact(Timeout = 400_000)]
    public async Task A_full_that_skips_unchanged_pages_holds_the_chunks_of_a_full_that_reads_them_and_proves_under_writes()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        // About 50 MB of pages: several 8 MiB chunks.
        var load = Cli("load", "--server", server.Url, "--table", "bulk", "--ops", "6000", "--value-size", "8192", "--batch", "50", "--writers", "4");
        Assert.True(load.Exit == 0, load.Err);
        Assert.Equal(0, Cli("repo", "init", repo).Exit);

        // The first asks to skip but the repository holds no full yet: it reads every page and says why.
        var first = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--json");
        Assert.Null(first.GetProperty("unchangedFrom").GetString());
        Assert.Equal(0, first.GetProperty("unreadBytes").GetInt64());
        Assert.Contains("no full set", first.GetProperty("readInFull")[0].GetString(), StringComparison.Ordinal);

        // Nothing changed: no page is read again, and nothing crosses the network for them.
        var again = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--json");
        Assert.Equal(SetOf(first), again.GetProperty("unchangedFrom").GetString());
        long image = (await PageChunksAsync(repo, first)).Count * (8L << 20);
        Assert.True(again.GetProperty("unreadBytes").GetInt64() >= image - (8L << 20), $"{again.GetProperty("unreadBytes").GetInt64()} bytes unread of about {image} in page chunks");
        Assert.Equal(await PageChunksAsync(repo, first), await PageChunksAsync(repo, again));

        // A few pages changed (rows at the start of the bulk table): their chunks are read, the others named.
        for (int i = 0; i < 20; i++)
        {
            await c.PutAsync("store", "mailbox", "bulk", Encoding.UTF8.GetBytes($"changed{i:D3}"), Encoding.UTF8.GetBytes(new string('c', 3000)));
        }
        var skipped = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--json");
        Assert.Equal(SetOf(again), skipped.GetProperty("unchangedFrom").GetString());
        long unread = skipped.GetProperty("unreadBytes").GetInt64();
        Assert.True(unread > 0 && unread < image, $"{unread} bytes unread of about {image}");
        // A full that reads every page, with nothing changed since, holds exactly the same chunks: the same ids.
        var read = Json("backup", "--server", server.Url, "--repo", repo, "--json");
        Assert.Equal(0, read.GetProperty("unreadBytes").GetInt64());
        Assert.Equal(await PageChunksAsync(repo, read), await PageChunksAsync(repo, skipped));

        // Writers change pages while a skipping full runs: pages it named from the base but changed after its begin are
        // replayed from its logs. Its restore matches the tables' digest at the end of its log range.
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 2).Select(_ => Task.Run(() => WriteUntilAsync(c, stop.Token))).ToList();
        await Task.Delay(500);
        var underWrites = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--digest", "--json");
        await stop.CancelAsync();
        await Task.WhenAll(writers.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)));
        Assert.Equal(SetOf(read), underWrites.GetProperty("unchangedFrom").GetString());
        var proof = Cli("prove", "--repo", repo, "--set", SetOf(underWrites), "--scratch", dir["scratch"]);
        Assert.True(proof.Exit == 0, proof.Out + proof.Err);
        Assert.Contains("match the backup's digest", proof.Out, StringComparison.Ordinal);
        var verify = Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        var listed = Json("list", "--repo", repo, "--json").EnumerateArray().Single(s => s.GetProperty("id").GetString() == SetOf(underWrites));
        Assert.Equal(SetOf(read), listed.GetProperty("unchangedFrom").GetString());
    }

    [Fact(Timeout = 300_000)]
    public async Task With_read_all_after_a_full_reads_every_page_once_the_last_one_that_did_is_that_old()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await StartWithRowsAsync(dir, repo);
        var all = Json("backup", "--server", server.Url, "--repo", repo, "--json");
        var skipped = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--read-all-after", "1h", "--json");
        Assert.Equal(SetOf(all), skipped.GetProperty("unchangedFrom").GetString());
        await Task.Delay(2_500);
        // The last full that read every page ended over 2 s ago: due again, said, whatever base a skip could use.
        var due = Cli("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--read-all-after", "2s");
        Assert.True(due.Exit == 0, due.Err);
        Assert.Contains($"every page read: the newest full set that read every page ({SetOf(all)}) ended", due.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("were not read again", due.Out, StringComparison.Ordinal);
        var next = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--read-all-after", "2s", "--json");
        Assert.NotNull(next.GetProperty("unchangedFrom").GetString());
        Assert.Equal(64, Cli("backup", "--repo", repo, "--read-all-after", "1d").Exit); // only with --skip-unchanged
    }

    [Fact(Timeout = 300_000)]
    public async Task After_a_restore_in_place_a_full_reads_every_page_since_the_database_records_no_full_to_name_pages_from()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await StartWithRowsAsync(dir, repo);
        var base_ = Json("backup", "--server", server.Url, "--repo", repo, "--json");
        var restore = Cli("restore", "--repo", repo, "--server", server.Url, "--replace");
        Assert.True(restore.Exit == 0, restore.Err);
        // The restored databases record no full backup: what the pages hold is no longer known to be the base's.
        var after = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--json");
        Assert.Null(after.GetProperty("unchangedFrom").GetString());
        Assert.Contains("records no full backup", after.GetProperty("readInFull")[0].GetString(), StringComparison.Ordinal);
        var next = Json("backup", "--server", server.Url, "--repo", repo, "--skip-unchanged", "--json");
        Assert.Equal(SetOf(after), next.GetProperty("unchangedFrom").GetString());
        Assert.NotEqual(SetOf(base_), SetOf(after));
    }

    [Fact]
    public void Skipping_unchanged_pages_goes_with_a_full_whose_chunks_the_server_cuts()
    {
        foreach (var args in new[] { new[] { "--type", "incremental" }, ["--compress", "client"] })
        {
            var r = Cli(["backup", "--repo", "/nonexistent", "--skip-unchanged", .. args]);
            Assert.Equal(64, r.Exit); // a usage error
            Assert.Contains("--skip-unchanged goes with --type full", r.Err, StringComparison.Ordinal);
        }
    }
}
