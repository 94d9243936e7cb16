using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

public partial class PolicyTests
{
    [Fact(Timeout = 300_000)]
    public async Task A_policy_with_copyTo_copies_each_new_set_to_the_second_repository_and_list_also_shows_it()
    {
        using var dir = new TempDir();
        var (a, b) = (dir["site-a"], dir["site-b"]);
        var config = await ConfigAsync(dir, $$"""
            { "name": "nightly", "instance": "store", "repository": { "location": "{{a}}" }, "copyTo": { "location": "{{b}}" },
              "full": "1h", "prove": { "afterEach": false } }
            """);
        var check = Cli("config", "check", config);
        Assert.True(check.Exit == 0, check.Out + check.Err);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        var calls = new PolicyCalls(c);
        var jobs = await WaitForHistoryAsync(calls, "nightly", h => h.Any(j => j is { Kind: PolicyJobKind.Copy, State: PolicyJobState.Succeeded or PolicyJobState.Failed }), TimeSpan.FromSeconds(120));
        var copy = jobs.First(j => j.Kind == PolicyJobKind.Copy);
        Assert.True(copy.State == PolicyJobState.Succeeded, $"copy job: {copy.State} {copy.Error}");
        Assert.True(copy.Bytes > 0);

        // The policy's sets say which the second site holds (listed again after the copy job), and the console shows it.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        PolicyInfo policy;
        while (!((policy = await calls.GetAsync("nightly", CancellationToken.None)).Sets is { Count: > 0 } sets && sets.All(s => s.Copied == true)))
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"the policy's sets do not show the copy: {string.Join(", ", policy.Sets.Select(s => $"{s.Id} {s.Copied}"))} {policy.CopyListError}");
            await Task.Delay(250);
        }
        Assert.Null(policy.CopyListError);
        await using (var browser = await Browser.Chromium.StartAsync())
        {
            await browser.NavigateAsync(server.Url + "/ui");
            await browser.WaitForAsync("!document.querySelector('#signin').hidden", TimeSpan.FromSeconds(10));
            await browser.EvaluateAsync($"document.querySelector('#token').value = '{TestToken.Value}'; document.querySelector('#signin button').click(); 0");
            await browser.WaitForAsync("document.querySelector('#instances tr[data-instance=\"store\"]')", TimeSpan.FromSeconds(10));
            await browser.EvaluateAsync("location.hash = '#sets'; 0");
            await browser.WaitForAsync("document.querySelector('table.sets td.copied[data-copied=\"true\"]')", TimeSpan.FromSeconds(30));
            var site = (await browser.EvaluateAsync("document.querySelector('p.second-site').innerText")).GetString()!;
            Assert.Contains(b, site, StringComparison.Ordinal);
            Assert.Contains($"holds {policy.Sets.Count} of {policy.Sets.Count} sets", site, StringComparison.Ordinal);
        }

        var listed = JsonDocument.Parse(Cli("list", "--repo", a, "--also", b, "--json").Out).RootElement.EnumerateArray().Where(e => e.TryGetProperty("alsoIn", out _)).ToList();
        Assert.NotEmpty(listed);
        Assert.All(listed, s => Assert.True(s.GetProperty("alsoIn").GetBoolean(), $"set {s.GetProperty("id")} is not in the second repository"));
        var verify = Cli("verify", "--repo", b);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        var text = Cli("list", "--repo", a, "--also", dir["nowhere"]);
        Assert.Equal(3, text.Exit);
    }
}
