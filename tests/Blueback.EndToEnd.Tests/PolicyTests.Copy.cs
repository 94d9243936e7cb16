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

        var listed = JsonDocument.Parse(Cli("list", "--repo", a, "--also", b, "--json").Out).RootElement.EnumerateArray().Where(e => e.TryGetProperty("alsoIn", out _)).ToList();
        Assert.NotEmpty(listed);
        Assert.All(listed, s => Assert.True(s.GetProperty("alsoIn").GetBoolean(), $"set {s.GetProperty("id")} is not in the second repository"));
        var verify = Cli("verify", "--repo", b);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        var text = Cli("list", "--repo", a, "--also", dir["nowhere"]);
        Assert.Equal(3, text.Exit);
    }
}
