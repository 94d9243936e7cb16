using System.Net;
using System.Text;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Browsing a policy's set without restoring it (docs/console.md, "Browsing a set"), against a real server
/// whose policy backs up into an encrypted repository: the rows as of the set, not the live ones; pages cut at the limit
/// and at the scan's byte cap; values shown as text or hex, cut for display; unknown sets, databases and tables
/// refused naming them; the mount closed when idle, its scratch directory removed, and opened again on demand; a read
/// token browses and a backup token is refused; and a browsed set that an operator's forget removes closed once the
/// policy lists its repository, then not found.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class BrowseTests
{
    /// <summary>A server whose policy "nightly" backs up instance store into an encrypted repository (browse mounts
    /// closed after <paramref name="idleSeconds"/> idle), and the id of a full set it took after <paramref name="write"/>
    /// wrote its rows (the policy's first full, taken at start, is before it).</summary>
    internal static async Task<(ServerProcess Server, string SetId)> StartWithSetAsync(TempDir dir, Func<BluebackClient, Task> write, int idleSeconds = 3)
    {
        var repo = dir["repo"];
        var key = dir["repo.key"];
        var init = BackupProgramTests.Cli("repo", "init", repo, "--encrypt", "--key-file", key);
        Assert.True(init.Exit == 0, init.Err);
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, $$"""
            { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ] } ],
              "browseIdleSeconds": {{idleSeconds}},
              "policies": [ { "name": "nightly", "instance": "store", "repository": { "location": "{{repo}}", "keyFile": "{{key}}" },
                              "full": "1d", "retention": { "keepLast": 5 } } ] }
            """);
        var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        try
        {
            using var c = new BluebackClient(server.Url);
            var calls = new PolicyCalls(c);
            // The policy's first full (taken at start) first, so that the run below is not refused as busy.
            await PolicyTests.WaitForHistoryAsync(calls, "nightly", h => h.Any(j => j is { Kind: PolicyJobKind.Full, State: PolicyJobState.Succeeded }), TimeSpan.FromSeconds(120));
            await write(c);
            var job = await RunNowAsync(calls, "full", null);
            var jobs = await PolicyTests.WaitForHistoryAsync(calls, "nightly", h => h.Any(j => j.Id == job.Id && j.State != PolicyJobState.Running), TimeSpan.FromSeconds(120));
            var done = jobs.Single(j => j.Id == job.Id);
            Assert.True(done.State == PolicyJobState.Succeeded, done.Error);
            return (server, done.Set!);
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>Runs a job of "nightly" once its lane is free: the retention after a backup and the proof of each set
    /// are jobs too (409 meanwhile).</summary>
    private static async Task<PolicyJobInfo> RunNowAsync(PolicyCalls calls, string kind, string? set)
    {
        for (var until = DateTime.UtcNow + TimeSpan.FromSeconds(120); ; await Task.Delay(250))
        {
            try
            {
                return await calls.RunAsync("nightly", kind, set, CancellationToken.None);
            }
            catch (BluebackApiException ex) when (ex.Status == HttpStatusCode.Conflict && DateTime.UtcNow < until)
            {
            }
        }
    }

    /// <summary>blueback_browse_sets_open and blueback_browse_mounts_total from /metrics.</summary>
    private static async Task<(long Open, long Mounts)> BrowseMetricsAsync(string url)
    {
        using var http = TestToken.Http(url);
        var text = await http.GetStringAsync(new Uri(Routes.Metrics, UriKind.Relative));
        long Value(string name) =>
            text.Split('\n').Select(l => System.Text.RegularExpressions.Regex.Match(l, $@"^{name}(\{{[^}}]*\}})? (?<v>\S+)")).FirstOrDefault(m => m.Success) is { } m
                ? (long)double.Parse(m.Groups["v"].Value, System.Globalization.CultureInfo.InvariantCulture)
                : throw new Xunit.Sdk.XunitException($"no sample of {name} in /metrics:\n{text}");
        return (Value("blueback_browse_sets_open"), Value("blueback_browse_mounts_total"));
    }

    [Fact(Timeout = 300_000)]
    public async Task A_set_is_browsed_as_of_its_backup_paged_and_closed_when_idle()
    {
        using var dir = new TempDir();
        var big = new byte[1 << 20];
        var started = await StartWithSetAsync(dir, async w =>
        {
            for (int i = 0; i < 25; i++)
            {
                await w.PutAsync("store", "mailbox", "inbox", Encoding.UTF8.GetBytes($"k{i:D2}"), Encoding.UTF8.GetBytes($"as-of-set-{i}"));
            }
            for (int i = 0; i < 6; i++)
            {
                Random.Shared.NextBytes(big);
                big[0] = 0xff; // never valid UTF-8: shown as hex
                await w.PutAsync("store", "public", "blobs", Encoding.UTF8.GetBytes($"b{i}"), big);
            }
        });
        using var server = started.Server;
        var id = started.SetId;
        using var c = new BluebackClient(server.Url);
        var calls = new PolicyCalls(c);

        // After the set: values changed, a key added, one deleted. None of it may show.
        for (int i = 0; i < 25; i++)
        {
            await c.PutAsync("store", "mailbox", "inbox", Encoding.UTF8.GetBytes($"k{i:D2}"), Encoding.UTF8.GetBytes($"live-{i}"));
        }
        await c.PutAsync("store", "mailbox", "inbox", "k99"u8.ToArray(), "added later"u8.ToArray());
        await c.DeleteAsync("store", "mailbox", "inbox", "k00"u8.ToArray());
        await c.PutAsync("store", "mailbox", "later-table", "x"u8.ToArray(), "y"u8.ToArray());

        // The set's databases and tables (by a short prefix of its id), with the row counts its digest recorded.
        var browse = await calls.BrowseAsync("nightly", id[..8], CancellationToken.None);
        Assert.Equal(id, browse.Set);
        Assert.Equal("store", browse.Instance);
        var mailbox = browse.Databases.Single(d => d.Name == "mailbox");
        Assert.Equal(["inbox"], mailbox.Tables.Select(t => t.Name));
        Assert.Equal(25, mailbox.Tables[0].Rows);
        Assert.Equal(6, browse.Databases.Single(d => d.Name == "public").Tables.Single(t => t.Name == "blobs").Rows);
        var scratch = Path.Combine(dir["data"], ".browse");
        Assert.Single(Directory.GetDirectories(scratch));
        Assert.Equal((1, 1), await BrowseMetricsAsync(server.Url));

        // Paged 7 at a time: every key as of the set, in order, with its value then.
        var rows = new List<BrowseRow>();
        string? from = null;
        int pages = 0;
        do
        {
            var page = await calls.BrowseTableAsync("nightly", id, "mailbox", "inbox", from, 7, CancellationToken.None);
            Assert.True(page.Items.Count <= 7);
            rows.AddRange(page.Items);
            from = page.Next;
            Assert.True(++pages <= 5, "the pages do not end");
        }
        while (from is not null);
        Assert.Equal(4, pages);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"k{i:D2}"), rows.Select(r => r.Key));
        Assert.All(rows, r => Assert.Equal($"as-of-set-{int.Parse(r.Key[1..], System.Globalization.CultureInfo.InvariantCulture)}", r.Value));
        Assert.All(rows, r => Assert.Equal(("utf8", false), (r.Encoding, r.Truncated)));

        // Values of 1 MiB: a page ends at the scan's 4 MiB of keys and values whatever the limit; each shown cut, as hex.
        var blobs = await calls.BrowseTableAsync("nightly", id, "public", "blobs", null, 100, CancellationToken.None);
        Assert.Equal(3, blobs.Items.Count); // 4 would pass 4 MiB with their keys
        Assert.Equal("b2\0", blobs.Next); // just after the last key shown
        Assert.All(blobs.Items, b => Assert.Equal(("hex", 1 << 20, true, 2 * BrowseRow.MaxShownBytes), (b.Encoding, b.Bytes, b.Truncated, b.Value.Length)));
        Assert.All(blobs.Items, b => Assert.StartsWith("ff", b.Value, StringComparison.Ordinal));
        var rest = await calls.BrowseTableAsync("nightly", id, "public", "blobs", blobs.Next, 100, CancellationToken.None);
        Assert.Equal(["b3", "b4", "b5"], rest.Items.Select(b => b.Key));
        Assert.Null(rest.Next);

        // Refusals that name what is wrong.
        var unknown = new string('0', 32);
        var none = await Assert.ThrowsAsync<BluebackApiException>(() => calls.BrowseAsync("nightly", unknown, CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, none.Status);
        Assert.Contains(unknown, none.Message, StringComparison.Ordinal);
        var noTable = await Assert.ThrowsAsync<BluebackApiException>(() => calls.BrowseTableAsync("nightly", id, "mailbox", "later-table", null, null, CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, noTable.Status);
        Assert.Contains("'later-table'", noTable.Message, StringComparison.Ordinal);
        Assert.Contains("inbox", noTable.Message, StringComparison.Ordinal);
        var noDb = await Assert.ThrowsAsync<BluebackApiException>(() => calls.BrowseTableAsync("nightly", id, "nodb", "t", null, null, CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, noDb.Status);
        var badId = await Assert.ThrowsAsync<BluebackApiException>(() => calls.BrowseAsync("nightly", "xyz", CancellationToken.None));
        Assert.Equal(HttpStatusCode.BadRequest, badId.Status);
        var badLimit = await Assert.ThrowsAsync<BluebackApiException>(() => calls.BrowseTableAsync("nightly", id, "mailbox", "inbox", null, 0, CancellationToken.None));
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.Status);

        // Idle for 3 s: the mount is closed and its scratch directory removed; the next read mounts it again.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (Directory.Exists(scratch) && Directory.GetDirectories(scratch).Length > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the browse mount was not closed within 60 s of idle: {string.Join(", ", Directory.GetDirectories(scratch))}");
            await Task.Delay(250);
        }
        Assert.Contains("Browsing set", server.Output, StringComparison.Ordinal);
        var (open, mounts) = await BrowseMetricsAsync(server.Url);
        Assert.Equal(0, open);
        Assert.True(mounts >= 1, $"{mounts} mounts"); // 1 unless a pause of 3 s between the reads above closed it meanwhile
        var again = await calls.BrowseTableAsync("nightly", id, "mailbox", "inbox", "k24", null, CancellationToken.None);
        Assert.Equal("as-of-set-24", Assert.Single(again.Items).Value);
        Assert.Single(Directory.GetDirectories(scratch));

        // The server's other work goes on meanwhile, and a graceful stop removes the open mount's scratch.
        Assert.Equal("live-3", Encoding.UTF8.GetString((await c.GetAsync("store", "mailbox", "inbox", "k03"u8.ToArray()))!));
        await server.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.False(Directory.Exists(scratch), "the browse directory outlived the server");
    }

    [Fact(Timeout = 300_000)]
    public async Task A_browsed_set_needs_a_read_token_and_once_forgotten_is_closed_and_then_not_found()
    {
        using var dir = new TempDir();
        var started = await StartWithSetAsync(dir, w => w.PutAsync("store", "mailbox", "inbox", "k"u8.ToArray(), "v"u8.ToArray()), idleSeconds: 600);
        using var server = started.Server;
        using var c = new BluebackClient(server.Url);
        var calls = new PolicyCalls(c);
        var first = (await calls.GetAsync("nightly", CancellationToken.None)).Sets.Select(s => s.Id).Single(s => s != started.SetId);
        // Values are data: a read token browses, a backup token (which reads no data) gets 403.
        using (var reader = new BluebackClient(server.Url, token: (await c.CreateTokenAsync("read", "browser")).Token))
        {
            Assert.Equal(first, (await new PolicyCalls(reader).BrowseAsync("nightly", first, CancellationToken.None)).Set);
        }
        using (var backup = new BluebackClient(server.Url, token: (await c.CreateTokenAsync("backup", "not-a-reader")).Token))
        {
            var refused = await Assert.ThrowsAsync<BluebackApiException>(() => new PolicyCalls(backup).BrowseTableAsync("nightly", first, "mailbox", "inbox", null, null, CancellationToken.None));
            Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        }
        var scratch = Path.Combine(dir["data"], ".browse");
        Assert.Single(Directory.GetDirectories(scratch));

        // Forgotten by an operator's forget (the newer set kept); the policy lists its repository after its next job.
        var forget = BackupProgramTests.Cli("forget", "--repo", dir["repo"], "--key-file", dir["repo.key"], "--keep-last", "1", "--json");
        for (var until = DateTime.UtcNow + TimeSpan.FromSeconds(60); forget.Exit != 0 && DateTime.UtcNow < until; await Task.Delay(500))
        {
            // the policy's own retention may hold the repository's maintenance lock a moment
            forget = BackupProgramTests.Cli("forget", "--repo", dir["repo"], "--key-file", dir["repo.key"], "--keep-last", "1", "--json");
        }
        Assert.True(forget.Exit == 0, forget.Err);
        Assert.Contains(first, forget.Out, StringComparison.Ordinal);
        await RunNowAsync(calls, "verify", started.SetId);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (Directory.GetDirectories(scratch).Length > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the forgotten set's browse mount was not closed after the policy listed its repository");
            await Task.Delay(250);
        }
        var gone = await Assert.ThrowsAsync<BluebackApiException>(() => calls.BrowseAsync("nightly", first, CancellationToken.None));
        Assert.Equal(HttpStatusCode.NotFound, gone.Status);
        Assert.Contains("retention may have forgotten it", gone.Message, StringComparison.Ordinal);
    }
}
