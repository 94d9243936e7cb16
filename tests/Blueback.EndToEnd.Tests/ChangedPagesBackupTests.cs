using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Storage;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback backup --changed-pages</c> against a real server: incrementals and differentials that hold only
/// the pages changed since their page base, verified and restored (offline and online) to exactly the server's rows,
/// and the fallback to a whole image, said, when the server's page summaries cannot cover the range.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class ChangedPagesBackupTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static JsonElement Json(params string[] args)
    {
        var r = Cli(args);
        Assert.True(r.Exit == 0, $"{string.Join(' ', args)}: exit {r.Exit}\n{r.Err}");
        return JsonDocument.Parse(r.Out).RootElement;
    }

    private static async Task PutAsync(BluebackClient c, Dictionary<string, string> rows, string key, string value)
    {
        await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value));
        rows[key] = value;
    }

    private static void AssertRows(string instanceDirectory, Dictionary<string, string> rows)
    {
        using var inst = StorageInstance.Open(instanceDirectory, new InstanceOptions());
        using var r = inst.BeginRead();
        var found = r.Scan(inst.GetDatabase("mailbox"), "t").ToDictionary(kv => Encoding.UTF8.GetString(kv.Key), kv => Encoding.UTF8.GetString(kv.Value));
        Assert.Equal(rows, found);
    }

    private static async Task<long> DatabaseFileSizeAsync(string repo, JsonElement set, string path)
    {
        var r = await Repository.BackupRepository.OpenAsync(new Repository.Stores.LocalDirectoryStore(repo));
        var m = await r.ReadManifestAsync(set.GetProperty("set").GetString()!);
        return m.Files.Single(f => f.Path == path).Size;
    }

    [Fact(Timeout = 400_000)]
    public async Task Changed_pages_incrementals_and_a_differential_store_little_verify_and_restore_every_row_offline_and_online()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var rows = new Dictionary<string, string>();
        var pad = new string('x', 1500);
        for (int i = 0; i < 3000; i++)
        {
            await PutAsync(c, rows, $"k{i:D5}", $"{i} {pad}");
        }
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        var full = Json("backup", "--server", server.Url, "--repo", repo, "--json");

        for (int i = 0; i < 3000; i += 100)
        {
            await PutAsync(c, rows, $"k{i:D5}", $"changed once {i}");
        }
        var inc1 = Json("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--changed-pages", "--json");
        Assert.Equal(full.GetProperty("genLow").GetUInt32(), inc1.GetProperty("changedSince").GetUInt32());
        Assert.Equal(0, inc1.GetProperty("wholeImages").GetArrayLength());
        // 1% of rows changed: the set's bytes are a small part of the full's (the pages, their map, the logs since its checkpoint).
        // 1% of rows changed: the set holds a small part of the database's pages (the logs since its checkpoint aside).
        long image = await DatabaseFileSizeAsync(repo, full, "databases/mailbox.bdb"), pages = await DatabaseFileSizeAsync(repo, inc1, "databases/mailbox.pages");
        Assert.True(pages * 5 < image, $"changed pages {pages} bytes, whole image {image}");

        for (int i = 50; i < 3000; i += 100)
        {
            await PutAsync(c, rows, $"k{i:D5}", $"changed twice {i}");
        }
        await c.DeleteAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes("k00007"));
        rows.Remove("k00007");
        // The first changed-pages set's chunks were made by the program from raw pages (the default here), this one's by
        // the server (its changed-pages chunk route).
        var inc2 = Json("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--changed-pages", "--json", "--compress", "server");
        Assert.Equal(inc1.GetProperty("genLow").GetUInt32(), inc2.GetProperty("changedSince").GetUInt32());
        await PutAsync(c, rows, "after", "a log-only incremental follows");
        var logOnly = Json("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json");
        Assert.Equal(inc2.GetProperty("genHigh").GetUInt32() + 1, logOnly.GetProperty("genLow").GetUInt32());

        var verify = Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        var listed = Json("list", "--repo", repo, "--json").EnumerateArray().Where(s => s.GetProperty("id").GetString() == inc1.GetProperty("set").GetString()).Single();
        Assert.Equal(inc1.GetProperty("changedSince").GetUInt32(), listed.GetProperty("changedSince").GetUInt32());

        var offline = Cli("restore", "--repo", repo, "--to", dir["restored"]);
        Assert.True(offline.Exit == 0, offline.Err);
        AssertRows(Path.Combine(dir["restored"], "store"), rows);

        var online = Cli("restore", "--repo", repo, "--server", server.Url, "--as", "copy");
        Assert.True(online.Exit == 0, online.Err);
        foreach (var key in new[] { "k00000", "k00050", "k00123", "after" })
        {
            Assert.Equal(rows[key], Encoding.UTF8.GetString((await c.GetAsync("copy", "mailbox", "t", Encoding.UTF8.GetBytes(key)))!));
        }
        Assert.Null(await c.GetAsync("copy", "mailbox", "t", Encoding.UTF8.GetBytes("k00007")));

        // A differential lists its pages against the full set alone, whatever incrementals came between.
        await PutAsync(c, rows, "k02999", "differential");
        var diff = Json("backup", "--server", server.Url, "--repo", repo, "--type", "differential", "--changed-pages", "--json");
        Assert.Equal(full.GetProperty("genLow").GetUInt32(), diff.GetProperty("changedSince").GetUInt32());
        var fromDiff = Cli("restore", "--repo", repo, "--set", diff.GetProperty("set").GetString()!, "--to", dir["fromdiff"]);
        Assert.True(fromDiff.Exit == 0, fromDiff.Err);
        AssertRows(Path.Combine(dir["fromdiff"], "store"), rows);
    }

    [Fact(Timeout = 300_000)]
    public async Task Without_the_summaries_of_its_range_a_changed_pages_backup_holds_whole_images_and_says_why()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var rows = new Dictionary<string, string>();
        var server = await ServerProcess.StartAsync(dir["data"]);
        try
        {
            using (var c = new BluebackClient(server.Url))
            {
                for (int i = 0; i < 300; i++)
                {
                    await PutAsync(c, rows, $"k{i:D5}", $"v{i}");
                }
            }
            Assert.Equal(0, Cli("repo", "init", repo).Exit);
            Json("backup", "--server", server.Url, "--repo", repo, "--json");
            using (var c = new BluebackClient(server.Url))
            {
                await PutAsync(c, rows, "k00002", "before the log-only incremental");
            }
            // Its truncation retires the full's generations: from then on only their summaries say what they changed.
            Json("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json");
            await server.TerminateAsync(TimeSpan.FromSeconds(20));
            server.Dispose();
            // As after a crash before summaries were kept, or a disk that refused them: the full's range is not covered.
            Directory.Delete(Path.Combine(dir["data"], "store", StorageInstance.LogDirectoryName, "summaries"), recursive: true);
            server = await ServerProcess.StartAsync(dir["data"]);
            using (var c = new BluebackClient(server.Url))
            {
                await PutAsync(c, rows, "k00001", "changed");
            }
            var r = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--changed-pages");
            Assert.True(r.Exit == 0, r.Err);
            Assert.Contains("whole image instead of changed pages: database 'mailbox'", r.Err, StringComparison.Ordinal);
            Assert.Contains("generation", r.Err, StringComparison.Ordinal);
            var verify = Cli("verify", "--repo", repo);
            Assert.True(verify.Exit == 0, verify.Out + verify.Err);
            var restore = Cli("restore", "--repo", repo, "--to", dir["restored"]);
            Assert.True(restore.Exit == 0, restore.Err);
            AssertRows(Path.Combine(dir["restored"], "store"), rows);
        }
        finally
        {
            server.Dispose();
        }
    }
}
