using System.Net.Http.Json;
using System.Text.Json;
using Blueback.EndToEnd.Tests.Browser;

namespace Blueback.EndToEnd.Tests;

/// <summary>The console tells the truth when a policy fails (issue 34), at 800 px wide: the instance reads degraded, not
/// online and green; a tile says its last good backup and why it is degraded; the alert reaches a webhook (a small
/// receiver the test starts, failing once so that the retry is used), is acknowledged with the operator's name and
/// stays in a history that outlives a restart; the plot has two labelled axes, a grid, values on hover and a range
/// choice; the navigation stays one row and dates stay on one line. With BLUEBACK_UI_SCREENSHOTS=DIR it saves the
/// pages there (docs/ui.md).</summary>
[Trait(Tier.Category, Tier.Slow)]
public class ConsoleHealthTests
{
    [Fact(Timeout = 300_000)]
    public async Task A_failing_policy_degrades_its_instance_alerts_a_webhook_and_is_acknowledged_at_800_px()
    {
        using var dir = new TempDir();
        var notARepository = dir["repo-is-a-file"];
        await File.WriteAllTextAsync(notARepository, "not a repository");
        await using var receiver = HttpReceiver.Start(503, 200);
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, $$"""
            { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" } ] },
                             { "name": "directory", "databases": [ { "name": "directory" } ] } ],
              "notifications": { "webhook": { "url": "{{receiver.Url}}", "retries": 3, "firstRetrySeconds": 0.2 } },
              "policies": [ { "name": "broken", "instance": "directory", "repository": { "location": "{{notARepository}}" }, "full": "1d" } ] }
            """);
        var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        try
        {
            await using var browser = await Chromium.StartAsync(800, 900);
            await browser.NavigateAsync(server.Url + "/ui");
            await browser.WaitForAsync("!document.querySelector('#signin').hidden", TimeSpan.FromSeconds(10));
            await browser.EvaluateAsync($"document.querySelector('#token').value = '{TestToken.Value}'; document.querySelector('#signin button').click(); 0");

            // Degraded, not online: the instance's row, its tile and the policy's tile say so, and why.
            await browser.WaitForAsync("document.querySelector('#instances tr[data-instance=\"directory\"] td.state')?.innerText.includes('degraded')", TimeSpan.FromSeconds(60));
            Assert.Equal("online", (await browser.EvaluateAsync("document.querySelector('#instances tr[data-instance=\"store\"] td.state').innerText.trim()")).GetString());
            var tile = (await browser.EvaluateAsync("document.querySelector('[data-tile=\"policy\"][data-policy=\"broken\"]').innerText")).GetString()!;
            Assert.Contains("Last good backup: none yet", tile, StringComparison.Ordinal);
            Assert.Contains("degraded: the last full backup failed (1 in a row)", tile, StringComparison.Ordinal);
            Assert.Contains(notARepository, tile, StringComparison.Ordinal);
            Assert.Contains("degraded", (await browser.EvaluateAsync("document.querySelector('[data-tile=\"instance\"][data-instance=\"directory\"]').innerText")).GetString()!, StringComparison.Ordinal);

            // The webhook got the alert, on its second try (the receiver failed the first).
            var bodies = await receiver.WaitForAsync(2, TimeSpan.FromSeconds(30));
            using (var raised = JsonDocument.Parse(bodies[1]))
            {
                Assert.Equal(bodies[0], bodies[1]);
                Assert.Equal("raised", raised.RootElement.GetProperty("event").GetString());
                Assert.Equal("policy broken", raised.RootElement.GetProperty("alert").GetProperty("subject").GetString());
            }

            // The plot: two labelled axes, a grid, values on hover, a range choice.
            await browser.WaitForAsync("document.querySelector('svg#plot')", TimeSpan.FromSeconds(30));
            var plotText = (await browser.EvaluateAsync("document.querySelector('svg#plot').textContent")).GetString()!;
            Assert.Contains("commits per second", plotText, StringComparison.Ordinal);
            Assert.Contains("backup MB/s", plotText, StringComparison.Ordinal);
            Assert.True((await browser.EvaluateAsync("document.querySelectorAll('svg#plot line.grid').length")).GetInt32() >= 8);
            await browser.EvaluateAsync("(() => { const r = document.querySelector('svg#plot').getBoundingClientRect(); document.querySelector('svg#plot').dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: r.left + r.width * 0.6, clientY: r.top + r.height / 2 })); return 0; })()");
            await browser.WaitForAsync("!document.querySelector('#plot-tip').hidden && document.querySelector('#plot-tip').innerText.includes('commits/s') && document.querySelector('#plot-tip').innerText.includes('MB/s backup')", TimeSpan.FromSeconds(5));
            await Layout800Async(browser);
            await ConsoleTests.ShotAsync(browser, "overview-800");
            await browser.EvaluateAsync("document.querySelector('button[data-range=\"24h\"]').click(); 0");
            await browser.WaitForAsync("document.querySelector('button.range.on')?.dataset.range === '24h' && document.querySelector('#page').innerText.includes('one per 5m')", TimeSpan.FromSeconds(10));

            // "Next" says overdue, not "ago".
            Assert.Contains("overdue by 32s", (await browser.EvaluateAsync("until(new Date(Date.now() - 32400).toISOString())")).GetString()!, StringComparison.Ordinal);
            Assert.Equal("in 3m", (await browser.EvaluateAsync("until(new Date(Date.now() + 180400).toISOString())")).GetString());

            // Acknowledge: a read token may not (403); the admin does, and the console says who and when.
            using var http = TestToken.Http(server.Url);
            var created = await (await http.PostAsJsonAsync("/v1/tokens", new { name = "viewer", role = "read" })).Content.ReadFromJsonAsync<JsonElement>();
            var alertId = (await http.GetFromJsonAsync<JsonElement>("/v1/alerts")).GetProperty("alerts").EnumerateArray().First(a => a.GetProperty("subject").GetString() == "policy broken").GetProperty("id").GetString()!;
            using (var viewer = new HttpClient { BaseAddress = new Uri(server.Url) })
            {
                viewer.DefaultRequestHeaders.Authorization = new("Bearer", created.GetProperty("token").GetString());
                Assert.Equal(403, (int)(await viewer.PostAsync($"/v1/alerts/{alertId}/ack", null)).StatusCode);
            }
            await browser.EvaluateAsync("window.confirm = () => true; location.hash = '#alerts'; 0");
            await browser.WaitForAsync($"document.querySelector('.alert[data-alert=\"{alertId}\"] button[data-ack]')", TimeSpan.FromSeconds(10));
            await browser.EvaluateAsync($"document.querySelector('.alert[data-alert=\"{alertId}\"] button[data-ack]').click(); 0");
            await browser.WaitForAsync($"document.querySelector('.alert[data-alert=\"{alertId}\"] .acked')?.innerText.includes('acknowledged by admin')", TimeSpan.FromSeconds(10));
            await browser.WaitForAsync("document.querySelector('#alert-history tr[data-event=\"acknowledged\"]') && document.querySelector('#alert-history tr[data-event=\"raised\"]')", TimeSpan.FromSeconds(10));
            await Layout800Async(browser);
            await ConsoleTests.ShotAsync(browser, "alerts-800");
            var acked = await receiver.WaitForAsync(3, TimeSpan.FromSeconds(30));
            Assert.Contains("\"acknowledged\"", acked[2], StringComparison.Ordinal);
        }
        finally
        {
            await server.TerminateAsync(TimeSpan.FromSeconds(30));
            server.Dispose();
        }

        // Across a restart: the history is there, and the alert (its policy still failing) keeps its acknowledgement.
        using var again = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var h = TestToken.Http(again.Url);
        var events = (await h.GetFromJsonAsync<JsonElement>("/v1/alerts/history")).GetProperty("events").EnumerateArray().Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Contains("raised", events);
        Assert.Contains("acknowledged", events);
        var alert = (await h.GetFromJsonAsync<JsonElement>("/v1/alerts")).GetProperty("alerts").EnumerateArray().First(a => a.GetProperty("subject").GetString() == "policy broken");
        Assert.StartsWith("admin", alert.GetProperty("acknowledgedBy").GetString(), StringComparison.Ordinal);
        Assert.Equal(400, (int)(await h.GetAsync("/v1/metrics/history?range=30d")).StatusCode);
    }

    /// <summary>At 800 px: the header is one row whose parts do not overlap, no date breaks over lines, and nothing is
    /// wider than the window but the tables' own scrolling boxes.</summary>
    private static async Task Layout800Async(Chromium browser)
    {
        var report = (await browser.EvaluateAsync("""
            (() => {
              const problems = [];
              const nav = document.querySelector('#nav').getBoundingClientRect();
              const links = [...document.querySelectorAll('#nav a')].map((a) => a.getBoundingClientRect());
              if (new Set(links.map((r) => Math.round(r.top))).size !== 1) problems.push('the navigation wraps');
              const parts = [...document.querySelectorAll('header > *')].filter((e) => !e.hidden).map((e) => [e.id || e.tagName, e.getBoundingClientRect()]);
              for (let i = 0; i < parts.length; i++) for (let j = i + 1; j < parts.length; j++) {
                const [a, ra] = parts[i], [b, rb] = parts[j];
                if (ra.width && rb.width && ra.left < rb.right - 1 && rb.left < ra.right - 1 && ra.top < rb.bottom - 1 && rb.top < ra.bottom - 1) problems.push(`${a} overlaps ${b}`);
              }
              if (document.querySelector('header').getBoundingClientRect().height > 60) problems.push('the header is more than one row');
              for (const t of document.querySelectorAll('.t')) if (t.getClientRects().length > 1) problems.push(`a date breaks over lines: ${t.textContent}`);
              if (document.documentElement.scrollWidth > window.innerWidth + 1) problems.push(`the page is ${document.documentElement.scrollWidth} px wide`);
              return `${window.innerWidth} px: ` + (problems.join('; ') || 'ok') + ` (nav ${Math.round(nav.height)} px high)`;
            })()
            """)).GetString()!;
        Assert.StartsWith("800 px: ok", report, StringComparison.Ordinal);
    }
}
