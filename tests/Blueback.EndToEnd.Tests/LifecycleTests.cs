using System.Diagnostics;
using System.Text;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary>The server killed under load, and stopped gracefully while clients are mid-request.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class LifecycleTests
{
    [Fact(Timeout = 300_000)]
    public async Task Killed_under_load_and_restarted_every_acknowledged_write_is_there()
    {
        using var dir = new TempDir();
        var acks = dir["acks.txt"];
        var server = await ServerProcess.StartAsync(dir["data"]);
        var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "load", "--server", server.Url, "--writers", "16", "--seconds", "4", "--value-size", "600", "--ack-file", acks])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var load = Process.Start(psi)!;
        var loadOut = load.StandardOutput.ReadToEndAsync();
        var loadErr = load.StandardError.ReadToEndAsync();
        await Task.Delay(TimeSpan.FromSeconds(2));
        server.Kill();
        server.Dispose();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await load.WaitForExitAsync(cts.Token);
        }
        var output = await loadOut + await loadErr;
        Assert.True(load.ExitCode == 2, $"load should report the errors after the kill (exit {load.ExitCode}): {output}");
        var acked = File.ReadAllLines(acks);
        Assert.True(acked.Length > 50, $"only {acked.Length} writes were acknowledged before the kill: {output}");

        using var again = await ServerProcess.StartAsync(dir["data"]);
        Assert.Contains("recovered", again.Output, StringComparison.Ordinal);
        using var c = new BluebackClient(again.Url);
        var status = await c.StatusAsync();
        Assert.False(status.Instances.Single(i => i.Name == "store").LastOpen!.Clean);
        var missing = new List<string>();
        foreach (var k in acked)
        {
            if (await c.GetAsync("store", "mailbox", "load", Encoding.UTF8.GetBytes(k)) is not { Length: 600 })
            {
                missing.Add(k);
            }
        }
        Assert.True(missing.Count == 0, $"{missing.Count} of {acked.Length} acknowledged writes are missing, e.g. {string.Join(", ", missing.Take(3))}");
    }

    [Fact(Timeout = 300_000)]
    public async Task Graceful_shutdown_finishes_within_its_bound_while_clients_are_mid_request()
    {
        using var dir = new TempDir();
        var bound = TimeSpan.FromSeconds(5);
        var server = await ServerProcess.StartAsync(dir["data"], false, "--shutdown-timeout", "5");
        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        using var client = new BluebackClient(server.Url, TimeSpan.FromSeconds(20));
        var writers = Enumerable.Range(0, 32).Select(w => Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = $"w{w}-{i}";
                try
                {
                    await client.PutAsync("store", "mailbox", "g", Encoding.UTF8.GetBytes(key), new byte[2000], stop.Token);
                    acked.Add(key);
                }
                catch (Exception ex) when (ex is HttpRequestException or BluebackApiException or OperationCanceledException or IOException)
                {
                    await Task.Delay(20, CancellationToken.None);
                }
            }
        })).ToList();
        // Writers in full flow before the stop: the first acknowledgement (a fresh process on a busy machine may take
        // more than a second to give it), then 1.5 s more.
        for (var until = DateTime.UtcNow.AddSeconds(30); acked.IsEmpty && DateTime.UtcNow < until;)
        {
            await Task.Delay(50);
        }
        Assert.NotEmpty(acked);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var took = await server.TerminateAsync(bound + TimeSpan.FromSeconds(5));
        stop.Cancel();
        await Task.WhenAll(writers);
        Assert.True(took < bound + TimeSpan.FromSeconds(2), $"graceful shutdown took {took.TotalSeconds:0.0} s, bound {bound.TotalSeconds} s. Output:\n{server.Output}");
        Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode}. Output:\n{server.Output}");
        Assert.Contains("Stopped cleanly", server.Output, StringComparison.Ordinal);
        server.Dispose();

        using var again = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(again.Url);
        var status = await c.StatusAsync();
        Assert.All(status.Instances, i => Assert.True(i.LastOpen!.Clean, $"instance {i.Name} needed recovery after a graceful stop"));
        Assert.All(status.Instances.SelectMany(i => i.Databases), d => Assert.Equal("Dirty", d.State)); // open again, so in use
        foreach (var k in acked)
        {
            Assert.NotNull(await c.GetAsync("store", "mailbox", "g", Encoding.UTF8.GetBytes(k)));
        }
    }
}
