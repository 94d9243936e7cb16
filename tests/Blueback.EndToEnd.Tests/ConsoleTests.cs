using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.EndToEnd.Tests.Browser;

namespace Blueback.EndToEnd.Tests;

/// <summary>The web console in a real browser (Debian's Chromium, headless, over DevTools) against a real server with a
/// policy: a token is needed (a wrong one is refused; every API route says 401 without one), a set appears with its proof
/// status, a running backup's progress moves, the policies and their history show. With BLUEBACK_UI_SCREENSHOTS=DIR the
/// test saves a screenshot of each page there (what docs/ui.md shows).</summary>
[Trait(Tier.Category, Tier.Slow)]
public class ConsoleTests
{
    private static string? ScreenshotDirectory => Environment.GetEnvironmentVariable("BLUEBACK_UI_SCREENSHOTS");

    private static async Task ShotAsync(Chromium browser, string name)
    {
        if (ScreenshotDirectory is { } dir)
        {
            Directory.CreateDirectory(dir);
            await Task.Delay(400); // one more refresh drawn
            await browser.ScreenshotAsync(Path.Combine(dir, name + ".png"));
        }
    }

    [Fact(Timeout = 300_000)]
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
        await browser.WaitForAsync("document.querySelector('table.sets tr[data-set][data-proof=\"ok\"]')", TimeSpan.FromSeconds(90));
        var proofText = (await browser.EvaluateAsync("document.querySelector('tr[data-proof=\"ok\"] td.proof').innerText")).GetString()!;
        Assert.Contains("digest match", proofText, StringComparison.Ordinal);

        // A backup that takes a while (sent at 2 MB/s while a writer is busy): its progress moves on the backups page.
        var value = new byte[50_000];
        for (int i = 0; i < 500; i++)
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
        await ShotAsync(browser, "backups");
        await browser.WaitForAsync($"Number(document.querySelector('#running-backups .sent')?.dataset.bytes || 0) > {first}", TimeSpan.FromSeconds(30));
        Assert.Contains(job.Id, (await browser.EvaluateAsync("document.querySelector('#running-jobs').innerText")).GetString()!, StringComparison.Ordinal);
        await browser.EvaluateAsync("location.hash = '#overview'; 0");
        await browser.WaitForAsync("document.querySelector('#plot')", TimeSpan.FromSeconds(10));
        await ShotAsync(browser, "overview");
        stop.Cancel();
        await writer;

        // The policies page: the schedule, and the history with the run-now job once it ends; then the sets again.
        await browser.EvaluateAsync("location.hash = '#policies'; 0");
        await browser.WaitForAsync($"document.querySelector('table.history') && document.querySelector('table.history').innerText.includes('{job.Id}') && !document.querySelector('#policies').innerText.includes('{job.Id}')", TimeSpan.FromSeconds(120));
        var history = (await browser.EvaluateAsync("document.querySelector('table.history').innerText")).GetString()!;
        Assert.Contains("run-now", history, StringComparison.Ordinal);
        Assert.Contains("succeeded", history, StringComparison.Ordinal);
        await ShotAsync(browser, "policies");
        await browser.EvaluateAsync("location.hash = '#sets'; 0");
        await browser.WaitForAsync("document.querySelectorAll('table.sets tr[data-proof=\"ok\"]').length >= 2", TimeSpan.FromSeconds(120));
        await ShotAsync(browser, "sets");
        await browser.EvaluateAsync("location.hash = '#alerts'; 0");
        await browser.WaitForAsync("document.querySelector('#no-alerts') || document.querySelector('.alert')", TimeSpan.FromSeconds(10));
        await ShotAsync(browser, "alerts");

        // Signing out forgets the token; the server never logged it.
        await browser.EvaluateAsync("document.querySelector('#signout').click(); 0");
        await browser.WaitForAsync("!document.querySelector('#signin').hidden && sessionStorage.length === 0", TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(TestToken.Value, server.Output, StringComparison.Ordinal);
    }
}
