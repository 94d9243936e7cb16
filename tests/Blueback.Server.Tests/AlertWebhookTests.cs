using System.Text.Json;
using Blueback.Protocol;
using Blueback.Server.Observability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blueback.Server.Tests;

/// <summary>An alert's change reaches a webhook as a JSON POST, retried with a doubling pause when the receiver fails,
/// not retried when it refuses the message (issue 34: alerts reached no one).</summary>
public class AlertWebhookTests
{
    private static AlertEvent Raised() => new()
    {
        Time = DateTime.UtcNow, Event = "raised", Server = "test",
        Alert = new AlertInfo { Id = "abcdef012345", Severity = "critical", Subject = "policy nightly", Message = "the last full backup failed" },
    };

    [Fact(Timeout = 30_000)]
    public async Task A_receiver_that_fails_twice_gets_the_alert_on_the_third_try()
    {
        await using var receiver = HttpReceiver.Start(503, 503, 200);
        using var hook = new AlertWebhook(new WebhookConfig { Url = receiver.Url, Retries = 5, FirstRetrySeconds = 0.1 }, NullLogger.Instance);
        hook.Enqueue(Raised());
        var bodies = await receiver.WaitForAsync(3, TimeSpan.FromSeconds(20));
        Assert.All(bodies, b => Assert.Equal(bodies[0], b));
        using var json = JsonDocument.Parse(bodies[2]);
        Assert.Equal("raised", json.RootElement.GetProperty("event").GetString());
        Assert.Equal("policy nightly", json.RootElement.GetProperty("alert").GetProperty("subject").GetString());
        await WaitAsync(() => hook.Counts.Delivered == 1);
        Assert.Equal(0, hook.Counts.Failed);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_refusal_is_not_retried_and_a_receiver_down_is_retried_a_bounded_number_of_times()
    {
        await using var receiver = HttpReceiver.Start(400, 200);
        using (var hook = new AlertWebhook(new WebhookConfig { Url = receiver.Url, Retries = 5, FirstRetrySeconds = 0.1 }, NullLogger.Instance))
        {
            hook.Enqueue(Raised());
            await WaitAsync(() => hook.Counts.Failed == 1);
            hook.Enqueue(Raised());
            await WaitAsync(() => hook.Counts.Delivered == 1);
        }
        Assert.Equal(2, receiver.Count); // the 400 once, then the next change

        // Nobody listening: 1 try and 2 retries, then given up (and said in the log).
        var port = HttpReceiver.FreePort();
        using var down = new AlertWebhook(new WebhookConfig { Url = $"http://127.0.0.1:{port}/hook", Retries = 2, FirstRetrySeconds = 0.1 }, NullLogger.Instance);
        down.Enqueue(Raised());
        await WaitAsync(() => down.Counts.Failed == 1);
        Assert.Equal(0, down.Counts.Delivered);
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition())
        {
            await Task.Delay(20, bound.Token);
        }
    }
}
