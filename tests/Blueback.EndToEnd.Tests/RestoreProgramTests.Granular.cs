using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Storage;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback restore --database --table</c>: one table or key range of a set, written into the live
/// instance in one transaction (in place or into a new table) while other tables take writes, or offline into a new
/// instance; refusals that name what the set holds; the scratch directory gone after every run.</summary>
public partial class RestoreProgramTests
{
    /// <summary>Table g of mailbox: 200 keys, g000 to g199, valued "v1-NNN".</summary>
    private static async Task SeedAsync(BluebackClient c)
    {
        var ops = Enumerable.Range(0, 200).Select(i => new BatchOp { Op = "put", Database = "mailbox", Table = "g", Key = $"g{i:D3}", Value = $"v1-{i:D3}" }).ToList();
        await c.BatchAsync("store", new BatchRequest { Ops = ops });
    }

    private static Dictionary<string, string> Seeded(int from = 0, int to = 200) =>
        Enumerable.Range(from, to - from).ToDictionary(i => $"g{i:D3}", i => $"v1-{i:D3}");

    /// <summary>Every key and value of a live table, through the scan route's pages.</summary>
    private static async Task<Dictionary<string, string>> TableAsync(BluebackClient c, string table)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        string? from = null;
        do
        {
            var page = await c.ScanAsync("store", "mailbox", table, from, null, 1000);
            foreach (var item in page.Items)
            {
                all[item.Key] = Encoding.UTF8.GetString(Convert.FromBase64String(item.Value));
            }
            from = page.Next?.From;
        }
        while (from is not null);
        return all;
    }

    /// <summary>After the set: g's values changed, some keys deleted, new keys added.</summary>
    private static async Task MutateAsync(BluebackClient c)
    {
        var ops = new List<BatchOp>();
        for (int i = 0; i < 200; i += 3)
        {
            ops.Add(new BatchOp { Op = "put", Database = "mailbox", Table = "g", Key = $"g{i:D3}", Value = "v2" });
        }
        for (int i = 1; i < 200; i += 10)
        {
            ops.Add(new BatchOp { Op = "delete", Database = "mailbox", Table = "g", Key = $"g{i:D3}" });
        }
        for (int i = 0; i < 50; i++)
        {
            ops.Add(new BatchOp { Op = "put", Database = "mailbox", Table = "g", Key = $"z{i:D3}", Value = "new" });
        }
        await c.BatchAsync("store", new BatchRequest { Ops = ops });
    }

    private static void AssertScratchEmpty(string scratch) =>
        Assert.True(!Directory.Exists(scratch) || Directory.GetFileSystemEntries(scratch).Length == 0, $"left in the scratch directory: {string.Join(", ", Directory.Exists(scratch) ? Directory.GetFileSystemEntries(scratch) : [])}");

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_table_restored_in_place_while_writers_commit_to_other_tables_is_exactly_the_sets_and_theirs_all_stay()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var scratch = dir["scratch"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await SeedAsync(c);
        var set = Backup(server, repo, "full");
        await MutateAsync(c);
        Assert.NotEqual(Seeded(), await TableAsync(c, "g"));

        long[] acked;
        await using (var writers = new Writers(c, 3))
        {
            await Task.Delay(300);
            var atStart = writers.Snapshot();
            var r = Restore("--repo", repo, "--set", set, "--server", server.Url, "--instance", "store", "--database", "mailbox", "--table", "g", "--replace", "--scratch", scratch, "--json");
            Assert.True(r.Exit == 0, r.Err);
            Assert.True(writers.Snapshot().Zip(atStart).All(p => p.First > p.Second), "the writers kept committing to table t of the same database during the restore");
            var json = JsonDocument.Parse(r.Out).RootElement;
            Assert.Equal("replace", json.GetProperty("mode").GetString());
            Assert.Equal(200, json.GetProperty("rows").GetInt64());
            Assert.Equal(200 - 20 + 50, json.GetProperty("deleted").GetInt64()); // the live table's keys when it was replaced
            await Task.Delay(200);
            await writers.DisposeAsync();
            acked = writers.Snapshot();
        }
        AssertScratchEmpty(scratch);

        // The table is exactly the set's: changed values back, deleted keys back, keys added since gone.
        Assert.Equal(Seeded(), await TableAsync(c, "g"));
        // Every acknowledged commit of the writers is there (their counters, and the marker of their last commit).
        for (int w = 0; w < 3; w++)
        {
            Assert.Equal(acked[w].ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetString((await c.GetAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"w{w}-n")))!));
            Assert.NotNull(await c.GetAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"w{w}-m{acked[w]:D6}")));
        }

        // --into: the set's table beside the live one, which stays as it is; a second time, the new table exists.
        await MutateAsync(c);
        var live = await TableAsync(c, "g");
        var into = Restore("--repo", repo, "--set", set, "--server", server.Url, "--database", "mailbox", "--table", "g", "--into", "g_restored", "--scratch", scratch);
        Assert.True(into.Exit == 0, into.Err);
        Assert.Contains("into the new table 'g_restored'", into.Out, StringComparison.Ordinal);
        Assert.Equal(Seeded(), await TableAsync(c, "g_restored"));
        Assert.Equal(live, await TableAsync(c, "g"));
        var again = Restore("--repo", repo, "--set", set, "--server", server.Url, "--database", "mailbox", "--table", "g", "--into", "g_restored", "--scratch", scratch);
        Assert.NotEqual(0, again.Exit);
        Assert.Contains("Table 'g_restored' already exists in database 'mailbox'", again.Err, StringComparison.Ordinal);
        AssertScratchEmpty(scratch);
    }

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_key_range_restored_as_of_a_point_between_two_commits_holds_the_first_and_not_the_second()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var scratch = dir["scratch"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await SeedAsync(c);
        Backup(server, repo, "full");
        var first = await c.BatchAsync("store", new BatchRequest { Ops = [new BatchOp { Op = "put", Database = "mailbox", Table = "g", Key = "g050", Value = "A" }] });
        await c.BatchAsync("store", new BatchRequest { Ops = [new BatchOp { Op = "put", Database = "mailbox", Table = "g", Key = "g060", Value = "B" }] });
        Backup(server, repo, "incremental"); // its logs hold both commits
        await MutateAsync(c);
        var before = await TableAsync(c, "g");

        var r = Restore("--repo", repo, "--set", "latest", "--stop-at", first.Lsn, "--server", server.Url, "--database", "mailbox", "--table", "g",
            "--from-key", "g050", "--to-key", "g065", "--replace", "--scratch", scratch, "--json");
        Assert.True(r.Exit == 0, r.Err);
        AssertScratchEmpty(scratch);

        var expected = new Dictionary<string, string>(before.Where(kv => string.CompareOrdinal(kv.Key, "g050") < 0 || string.CompareOrdinal(kv.Key, "g065") >= 0));
        foreach (var (k, v) in Seeded(50, 65))
        {
            expected[k] = v;
        }
        expected["g050"] = "A"; // the first commit is in; g060 keeps the set's value, not the second's "B"
        Assert.Equal(expected, await TableAsync(c, "g"));
    }

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_missing_table_or_database_is_refused_naming_what_the_set_holds_and_offline_a_table_becomes_an_instance_of_its_own()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var scratch = dir["scratch"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            await SeedAsync(c);
            await c.PutAsync("store", "mailbox", "h", "only"u8.ToArray(), "here"u8.ToArray());
            Backup(server, repo, "full");
            var noTable = Restore("--repo", repo, "--set", "latest", "--server", server.Url, "--database", "mailbox", "--table", "nope", "--replace", "--scratch", scratch);
            Assert.NotEqual(0, noTable.Exit);
            Assert.Contains("table 'nope' is not in database 'mailbox'", noTable.Err, StringComparison.Ordinal);
            Assert.Contains("'g', 'h'", noTable.Err, StringComparison.Ordinal);
            AssertScratchEmpty(scratch);
        }
        var noDb = Restore("--repo", repo, "--set", "latest", "--to", dir["off"], "--database", "nodb", "--scratch", scratch);
        Assert.NotEqual(0, noDb.Exit);
        Assert.Contains("database 'nodb' is not in set", noDb.Err, StringComparison.Ordinal);
        Assert.Contains("'mailbox', 'public'", noDb.Err, StringComparison.Ordinal);

        // Offline: a new instance holding just the table's range.
        var off = Restore("--repo", repo, "--set", "latest", "--to", dir["off"], "--as", "g-only", "--database", "mailbox", "--table", "g", "--from-key", "g100", "--scratch", scratch);
        Assert.True(off.Exit == 0, off.Err);
        AssertScratchEmpty(scratch);
        var instanceDir = Path.Combine(dir["off"], "g-only");
        foreach (var f in Directory.GetFiles(instanceDir, "*.bdb"))
        {
            var check = Cli("db", "checksum", f);
            Assert.True(check.Exit == 0, $"db checksum {f}: {check.Out}{check.Err}");
        }
        using var inst = StorageInstance.Open(instanceDir, new InstanceOptions());
        Assert.Equal(["mailbox"], inst.Databases.Select(d => d.Name));
        using var read = inst.BeginRead();
        var db = inst.GetDatabase("mailbox");
        Assert.Equal(["g"], read.Tables(db));
        Assert.Equal(Seeded(100, 200), read.Scan(db, "g").ToDictionary(kv => Encoding.UTF8.GetString(kv.Key), kv => Encoding.UTF8.GetString(kv.Value)));

        // Offline, a whole database: an instance holding that database alone, every table of it.
        var whole = Restore("--repo", repo, "--set", "latest", "--to", dir["off"], "--as", "mailbox-only", "--database", "mailbox", "--scratch", scratch);
        Assert.True(whole.Exit == 0, whole.Err);
        using var mailboxOnly = StorageInstance.Open(Path.Combine(dir["off"], "mailbox-only"), new InstanceOptions());
        Assert.Equal(["mailbox"], mailboxOnly.Databases.Select(d => d.Name));
        using var readAll = mailboxOnly.BeginRead();
        Assert.Equal(["g", "h"], readAll.Tables(mailboxOnly.GetDatabase("mailbox")).Order(StringComparer.Ordinal));
        Assert.Equal(200, readAll.Scan(mailboxOnly.GetDatabase("mailbox"), "g").Count());
    }

    /// <summary>^C while the rows wait on a server that never answers (the scratch copy is open by then): exit 130, and
    /// the scratch directory is gone.</summary>
    [Fact(Timeout = 180_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Ctrl_C_of_a_granular_restore_exits_130_and_leaves_no_scratch_directory()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var scratch = dir["scratch"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            await SeedAsync(c);
            Backup(server, repo, "full");
        }
        using var silent = new TcpListener(IPAddress.Loopback, 0); // connections queue in its backlog, never answered
        silent.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}";
        // 15 s: the scratch restore of this small set is done well before, and the load's begin then waits on the silent server.
        var run = await PtySignal.RunAsync("INT", 15, "dotnet", ServerProcess.Cli, "restore", "--repo", repo, "--set", "latest", "--server", url,
            "--database", "mailbox", "--table", "g", "--replace", "--scratch", scratch, "--token-file", TestToken.File);
        Assert.True(run.Outcome == "interrupted" && run.Exit == 130, $"restore: {run}");
        Assert.True(Directory.Exists(scratch) && run.Output.Contains("restore:", StringComparison.Ordinal), $"the scratch restore ran before the ^C: {run.Output}");
        AssertScratchEmpty(scratch);
    }
}
