using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.EndToEnd.Tests.Browser;

namespace Blueback.EndToEnd.Tests;

/// <summary>The web console in a real browser (Debian's Chromium, headless, over DevTools) against a real server with a
/// policy: a token is needed (a wrong one is refused; every API route says 401 without one), a set appears with its proof
/// status, a running backup's progress moves against a true total with a rate and a time left, its Stop button (after a
/// confirmation) stops it with no set committed, the policies and their history show, a set's page its chain and checks;
/// and, at 800 px, a set browsed without restoring it. With BLUEBACK_UI_SCREENSHOTS=DIR the
/// test saves a screenshot of each page there (what docs/ui.md shows).</summary>
[Trait(Tier.Category, Tier.Slow)]
public class ConsoleTests
{
    private static string? ScreenshotDirectory => Environment.GetEnvironmentVariable("BLUEBACK_UI_SCREENSHOTS");

    internal static async Task ShotAsync(Chromium browser, string name)
    {
        if (ScreenshotDirectory is { } dir)
        {
            Directory.CreateDirectory(dir);
            await Task.Delay(400); // one more refresh drawn
            await browser.ScreenshotAsync(Path.Combine(dir, name + ".png"));
        }
    }

    [Fact(Timeout = 420_000)]
    public async Task The_console_signs_in_with_a_token_shows_sets_with_their_proofs_and_a_running_backups_progress_moving()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, $$"""
            { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ] },
                             { "name": "directory", "databases": [ { "name": "directory" } ] } ],
              "backupBusyRateMBps": 2,
              "policies": [ { "name": "nightly", "instance": "store", "repository": { "location": "{{repo}}" },
                              "full": "1d", "incremental": "1h", "changedPages": true, "retention": { "keepLast": 5 } } ] }
            """);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        await using var browser = await Chromium.StartAsync();

        // Signed out: the page asks for a token; the API says 401 without one; a wrong token is refused.
        await browser.NavigateAsync(server.Url + "/ui");
        await browser.WaitForAsync("!document.querySelector('#signin').hidden", TimeSpan.FromSeconds(10));
        await ShotAsync(browser, "signin");
        Assert.Equal(401, (await browser.EvaluateAsync("fetch('/v1/status').then(r => r.status)")).GetInt32());
        Assert.Equal(401, (await browser.EvaluateAsync("fetch('/v1/policies').then(r => r.status)")).GetInt32());
        await browser.EvaluateAsync("document.querySelector('#token').value = 'bbt_00000000_notavalidtokenatall'; document.querySelector('#signin button').click(); 0");
        await browser.WaitForAsync("document.querySelector('#signin-error').textContent.includes('refused')", TimeSpan.FromSeconds(10));

        // Signed in: the instances, and the policy's first full backup appearing as a set with its proof.
        await browser.EvaluateAsync($"document.querySelector('#token').value = '{TestToken.Value}'; document.querySelector('#signin button').click(); 0");
        await browser.WaitForAsync("document.querySelector('#instances tr[data-instance=\"store\"]')", TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(TestToken.Value, (await browser.EvaluateAsync("location.href")).GetString()!, StringComparison.Ordinal);
        await browser.EvaluateAsync("location.hash = '#sets'; 0");
        // The full and its proof take their time on a busy machine: waited for through the API first, so that the
        // page's own bound measures the console, not the machine.
        await PolicyTests.WaitForHistoryAsync(new PolicyCalls(c), "nightly", h => h.Any(j => j is { Kind: PolicyJobKind.Prove, State: PolicyJobState.Succeeded }), TimeSpan.FromSeconds(240));
        await browser.WaitForAsync("document.querySelector('table.sets tr[data-set][data-proof=\"ok\"]')", TimeSpan.FromSeconds(60));
        var proofText = (await browser.EvaluateAsync("document.querySelector('tr[data-proof=\"ok\"] td.proof').innerText")).GetString()!;
        Assert.Contains("digest match", proofText, StringComparison.Ordinal);

        // A backup that takes a while (sent at 2 MB/s while a writer is busy): its progress moves on the backups page.
        var value = new byte[50_000];
        for (int i = 0; i < 1200; i++)
        {
            Random.Shared.NextBytes(value);
            await c.PutAsync("store", "mailbox", "big", Encoding.UTF8.GetBytes($"b{i:D4}"), value);
        }
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                await c.PutAsync("store", "public", "t", Encoding.UTF8.GetBytes($"k{i % 100}"), Encoding.UTF8.GetBytes($"v{i}"), CancellationToken.None);
            }
        });
        await browser.EvaluateAsync("location.hash = '#overview'; 0");
        await browser.WaitForAsync("document.querySelector('#plot')", TimeSpan.FromSeconds(10));
        var job = await new PolicyCalls(c).RunAsync("nightly", "full", null, CancellationToken.None);
        await browser.EvaluateAsync("location.hash = '#backups'; 0");
        await browser.WaitForAsync("Number(document.querySelector('#running-backups .sent')?.dataset.bytes || 0) > 0", TimeSpan.FromSeconds(30));
        long first = (await browser.EvaluateAsync("Number(document.querySelector('#running-backups .sent').dataset.bytes)")).GetInt64();
        await browser.WaitForAsync($"Number(document.querySelector('#running-backups .sent')?.dataset.bytes || 0) > {first}", TimeSpan.FromSeconds(30));
        Assert.Contains(job.Id, (await browser.EvaluateAsync("document.querySelector('#running-jobs').innerText")).GetString()!, StringComparison.Ordinal);
        // True progress: bytes sent against a total that holds the logs, never more sent than the total; a rate and a time left.
        await browser.WaitForAsync("document.querySelector('#running-backups td.rate')?.innerText.includes('MB/s') && document.querySelector('#running-backups td.left')?.innerText.length > 0", TimeSpan.FromSeconds(30));
        var progress = await browser.EvaluateAsync("(() => { const e = document.querySelector('#running-backups .sent'); return [Number(e.dataset.bytes), Number(e.dataset.total), e.closest('td').innerText]; })()");
        Assert.True(progress[0].GetInt64() <= progress[1].GetInt64(), $"sent {progress[0]} of a total of {progress[1]}");
        Assert.Contains("logs included", progress[2].GetString()!, StringComparison.Ordinal);
        await ShotAsync(browser, "backups");
        await browser.EvaluateAsync("location.hash = '#overview'; 0");
        await browser.WaitForAsync("document.querySelector('#plot')", TimeSpan.FromSeconds(10));
        await ShotAsync(browser, "overview");

        // Stop: asks first, stops the policy's job through its cancel route; the program stops and commits no set.
        var setsBefore = (await new PolicyCalls(c).GetAsync("nightly", CancellationToken.None)).Sets.Count;
        await browser.EvaluateAsync("location.hash = '#backups'; 0");
        await browser.WaitForAsync("document.querySelector('#running-backups button.stop')", TimeSpan.FromSeconds(10));
        await browser.EvaluateAsync("window.confirm = () => false; document.querySelector('#running-backups button.stop').click(); 0");
        await Task.Delay(1500);
        Assert.Equal(PolicyJobState.Running, (await new PolicyCalls(c).JobAsync("nightly", job.Id, CancellationToken.None)).State);
        await browser.EvaluateAsync("window.confirm = () => true; document.querySelector('#running-backups button.stop').click(); 0");
        await browser.WaitForAsync("document.querySelector('#running-backups') && !document.querySelector('#running-backups tr[data-backup]')", TimeSpan.FromSeconds(30));
        var stopped = await new PolicyCalls(c).JobAsync("nightly", job.Id, CancellationToken.None);
        for (int i = 0; stopped.State == PolicyJobState.Running && i < 100; i++)
        {
            await Task.Delay(100);
            stopped = await new PolicyCalls(c).JobAsync("nightly", job.Id, CancellationToken.None);
        }
        Assert.Equal(PolicyJobState.Cancelled, stopped.State);
        Assert.Null(stopped.Set);
        stop.Cancel();
        await writer;

        // Another full, left to end: the policies page shows it in the history; the sets page its proof beside the first.
        job = await new PolicyCalls(c).RunAsync("nightly", "full", null, CancellationToken.None);
        await browser.EvaluateAsync("location.hash = '#policies'; 0");
        await browser.WaitForAsync($"document.querySelector('table.history') && document.querySelector('table.history').innerText.includes('{job.Id}') && !document.querySelector('#policies').innerText.includes('{job.Id}')", TimeSpan.FromSeconds(120));
        var history = (await browser.EvaluateAsync("document.querySelector('table.history').innerText")).GetString()!;
        Assert.Contains("run-now", history, StringComparison.Ordinal);
        Assert.Contains("succeeded", history, StringComparison.Ordinal);
        Assert.Contains("cancelled", history, StringComparison.Ordinal);
        await ShotAsync(browser, "policies");
        await browser.EvaluateAsync("location.hash = '#sets'; 0");
        await browser.WaitForAsync("document.querySelectorAll('table.sets tr[data-proof=\"ok\"]').length >= 2", TimeSpan.FromSeconds(120));
        Assert.Equal(setsBefore + 1, (await new PolicyCalls(c).GetAsync("nightly", CancellationToken.None)).Sets.Count);
        Assert.Contains("deduplication", (await browser.EvaluateAsync("document.querySelector('#stored-legend').innerText")).GetString()!, StringComparison.Ordinal);
        await ShotAsync(browser, "sets");

        // A set's page: its chain (a full: itself) and its checks with their dates; Verify asks, runs as a server-side
        // job whose result shows there, and the set reads verified with the date.
        await browser.EvaluateAsync("document.querySelector('table.sets tr[data-proof=\"ok\"] td.id a').click(); 0");
        await browser.WaitForAsync("document.querySelector('#chain tr[data-chain]') && document.querySelector('button[data-kind=\"verify\"][data-set]')", TimeSpan.FromSeconds(10));
        Assert.Matches(@"ok \d{4}-\d\d-\d\d", (await browser.EvaluateAsync("document.querySelector('span.proof').innerText")).GetString()!);
        Assert.Contains("never", (await browser.EvaluateAsync("document.querySelector('span.verified').innerText")).GetString()!, StringComparison.Ordinal);
        await browser.WaitForAsync("document.querySelector('#set-files')", TimeSpan.FromSeconds(20));
        var files = (await browser.EvaluateAsync("document.querySelector('#set-files').innerText")).GetString()!;
        Assert.Contains("databases/mailbox.bdb", files, StringComparison.Ordinal);
        Assert.Contains("logs/", files, StringComparison.Ordinal);
        await browser.EvaluateAsync("window.confirm = () => true; document.querySelector('button[data-kind=\"verify\"][data-set]').click(); 0");
        await browser.WaitForAsync("document.querySelector('#set-jobs tr[data-kind=\"verify\"][data-state=\"succeeded\"]')", TimeSpan.FromSeconds(60));
        await browser.WaitForAsync("/ok \\d{4}-\\d\\d-\\d\\d/.test(document.querySelector('span.verified').innerText)", TimeSpan.FromSeconds(30));
        // Restore as new: a job too; the set's instance comes up beside the live one under the set's short id.
        await browser.EvaluateAsync("document.querySelector('button[data-kind=\"restore\"][data-set]').click(); 0");
        await browser.WaitForAsync("document.querySelector('#set-jobs tr[data-kind=\"restore\"][data-state=\"succeeded\"] .restored')", TimeSpan.FromSeconds(120));
        var restoredAs = (await browser.EvaluateAsync("document.querySelector('#set-jobs .restored').innerText")).GetString()!;
        Assert.StartsWith("store-", restoredAs, StringComparison.Ordinal);
        Assert.NotNull(await c.GetAsync(restoredAs, "mailbox", "big", Encoding.UTF8.GetBytes("b0000")));
        await ShotAsync(browser, "set");
        await browser.EvaluateAsync("location.hash = '#alerts'; 0");
        await browser.WaitForAsync("document.querySelector('#no-alerts') || document.querySelector('.alert')", TimeSpan.FromSeconds(10));
        await ShotAsync(browser, "alerts");

        // Signing out forgets the token; the server never logged it.
        await browser.EvaluateAsync("document.querySelector('#signout').click(); 0");
        await browser.WaitForAsync("!document.querySelector('#signin').hidden && sessionStorage.length === 0", TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(TestToken.Value, server.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 300_000)]
    public async Task The_console_browses_a_sets_tables_and_keys_as_of_the_set_at_800_px()
    {
        using var dir = new TempDir();
        var started = await BrowseTests.StartWithSetAsync(dir, async w =>
        {
            var ops = Enumerable.Range(0, 60).Select(i => new BatchOp { Op = "put", Database = "mailbox", Table = "inbox", Key = $"msg{i:D3}", Value = $"subject {i} as backed up" }).ToList();
            await w.BatchAsync("store", new BatchRequest { Ops = ops });
        });
        using var server = started.Server;
        using var c = new BluebackClient(server.Url);
        await c.PutAsync("store", "mailbox", "inbox", "msg000"u8.ToArray(), "changed after the set"u8.ToArray());
        await using var browser = await Chromium.StartAsync(width: 800);
        await browser.NavigateAsync(server.Url + "/ui");
        await browser.WaitForAsync("!document.querySelector('#signin').hidden", TimeSpan.FromSeconds(10));
        await browser.EvaluateAsync($"document.querySelector('#token').value = '{TestToken.Value}'; document.querySelector('#signin button').click(); 0");
        await browser.WaitForAsync("document.querySelector('#instances')", TimeSpan.FromSeconds(10));

        // The set list's Browse action opens the set: its databases and tables under a read-only banner with its time.
        await browser.EvaluateAsync("location.hash = '#sets'; 0");
        await browser.WaitForAsync($"document.querySelector('tr[data-set=\"{started.SetId}\"] a.browse')", TimeSpan.FromSeconds(30));
        await browser.EvaluateAsync($"document.querySelector('tr[data-set=\"{started.SetId}\"] a.browse').click(); 0");
        await browser.WaitForAsync("document.querySelector('#browse-tables tr[data-table=\"mailbox/inbox\"] a') || document.querySelector('#browse-error')", TimeSpan.FromSeconds(90));
        Assert.Equal(JsonValueKind.Null, (await browser.EvaluateAsync("document.querySelector('#browse-error')?.innerText ?? null")).ValueKind);
        var banner = (await browser.EvaluateAsync("document.querySelector('#browse-banner').innerText")).GetString()!;
        Assert.Matches(@"Read-only: a backup set as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", banner);
        Assert.Contains(started.SetId, (await browser.EvaluateAsync("document.querySelector('#page h2').innerText")).GetString()!, StringComparison.Ordinal);
        Assert.Contains("60", (await browser.EvaluateAsync("document.querySelector('#browse-tables tr[data-table=\"mailbox/inbox\"]').innerText")).GetString()!, StringComparison.Ordinal);

        // A table: its keys and values as of the set, 50 to a page, then "Next".
        await browser.EvaluateAsync("document.querySelector('#browse-tables tr[data-table=\"mailbox/inbox\"] a').click(); 0");
        await browser.WaitForAsync("document.querySelector('#browse-rows tr[data-key=\"msg000\"]')", TimeSpan.FromSeconds(30));
        Assert.Equal("subject 0 as backed up", (await browser.EvaluateAsync("document.querySelector('#browse-rows tr[data-key=\"msg000\"] td.value').innerText")).GetString());
        Assert.Equal(50, (await browser.EvaluateAsync("document.querySelectorAll('#browse-rows tr[data-key]').length")).GetInt32());
        // 800 px wide: nothing wider than the window (long values wrap, wide tables scroll in their box).
        Assert.True((await browser.EvaluateAsync("document.documentElement.scrollWidth <= window.innerWidth")).GetBoolean(), "the browse view is wider than 800 px");
        await ShotAsync(browser, "browse-800");
        await browser.EvaluateAsync("document.querySelector('#browse-next').click(); 0");
        await browser.WaitForAsync("document.querySelector('#browse-rows tr[data-key=\"msg059\"]') && document.querySelector('#browse-end')", TimeSpan.FromSeconds(30));
        Assert.Equal(10, (await browser.EvaluateAsync("document.querySelectorAll('#browse-rows tr[data-key]').length")).GetInt32());

        // An unknown set: the view says so, naming it.
        var unknown = new string('0', 32);
        await browser.EvaluateAsync($"location.hash = '#browse/nightly/{unknown}'; 0");
        await browser.WaitForAsync("document.querySelector('#browse-error')", TimeSpan.FromSeconds(30));
        Assert.Contains(unknown, (await browser.EvaluateAsync("document.querySelector('#browse-error').innerText")).GetString()!, StringComparison.Ordinal);
    }
}
