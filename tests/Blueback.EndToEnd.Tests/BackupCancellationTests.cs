using System.Diagnostics;
using System.Text;
using Blueback.Client;
using Blueback.Protocol;
using Xunit.Abstractions;

namespace Blueback.EndToEnd.Tests;

/// <summary>Counts this process's file descriptors, so it runs alone, never beside other tests.</summary>
[CollectionDefinition(nameof(BackupCancellationTests), DisableParallelization = true)]
public sealed class CancellationCollection;

/// <summary>Stopping a backup at any moment: every cancelled call returns promptly, the server is clean at once,
/// writers never notice, and nothing leaks (the Q185694 seed).</summary>
[Collection(nameof(BackupCancellationTests))]
public class BackupCancellationTests(ITestOutputHelper output)
{
    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public Task Cancelling_a_backup_at_25_random_points_returns_promptly_and_leaks_nothing() => RunAsync(25, seed: 1);

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public Task Cancelling_a_backup_at_100_random_points_returns_promptly_and_leaks_nothing() => RunAsync(100, seed: 2);

    /// <summary>A begin cancelled while in flight (the server may have begun the session, or may not have seen the
    /// begin yet when the client's abort arrives) leaves no session behind: the client awaits its abort before the
    /// call returns, and a begin that reaches the server after its own abort is refused. Found with Ctrl+C in a
    /// program's first second: an abort left in flight died with the process, and the session held the instance for
    /// its 60 s lease. (That the program's exit no longer loses the abort is the first-second Ctrl+C test's to show:
    /// here the process lives on.)</summary>
    [Fact(Timeout = 120_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_begin_cancelled_in_flight_leaves_no_session_behind()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        int cancelled = 0;
        for (int us = 0; us < 40_000; us += 500)
        {
            using var cts = new CancellationTokenSource();
            var begin = c.BeginBackupAsync("store", "copy", cts.Token);
            await Task.Delay(TimeSpan.FromMicroseconds(us));
            await cts.CancelAsync();
            try
            {
                await using var s = await begin; // begun before the cancel: disposing aborts it (awaited, bounded)
            }
            catch (OperationCanceledException)
            {
                cancelled++;
            }
            catch (BluebackApiException ex) when (ex.Message.Contains("already running", StringComparison.Ordinal))
            {
                // The begin before this one was still being refused on the server (it arrived after its abort).
            }
            // Far inside the 60 s lease: only an abort that was lost would leave a session this long.
            await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(2));
        }
        Assert.True(cancelled > 0, "no begin was cancelled in flight");
    }

    private async Task RunAsync(int points, int seed)
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);

        // Writers through the data API for the whole test: none of their calls may fail.
        using var stop = new CancellationTokenSource();
        long writes = 0;
        var writer = Task.Run(async () =>
        {
            using var w = new BluebackClient(server.Url);
            var v = new byte[500];
            while (!stop.IsCancellationRequested)
            {
                await w.PutAsync("store", "public", "w", Encoding.UTF8.GetBytes($"k{writes % 1000}"), v);
                Interlocked.Increment(ref writes);
            }
        });

        // Warm up (JIT, connections), then count what the server and this process hold.
        await FullBackupAsync(c, CancellationToken.None, throttle: false);
        await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(1));
        var serverFds = Fds(server.Pid);
        var serverThreads = Threads(server.Pid);
        var ownFds = Fds(Environment.ProcessId);

        var rng = new Random(seed);
        var returns = new List<double>();
        var phases = new Dictionary<string, int>();
        string[] targets = ["begin", "mid-image", "between images", "mid-log", "before end"];
        for (int i = 0; i < points; i++)
        {
            using var cts = new CancellationTokenSource();
            var progress = new Progress(targets[i % targets.Length]);
            var backup = FullBackupAsync(c, cts.Token, throttle: true, progress);
            // Wait until the backup reaches the chosen phase, then cancel at a random moment inside it.
            await Task.WhenAny(progress.Reached, Task.Delay(TimeSpan.FromSeconds(10)));
            await Task.Delay(rng.Next(0, 15));
            var phase = progress.Value;
            var sw = Stopwatch.StartNew();
            cts.Cancel();
            try
            {
                await backup.WaitAsync(TimeSpan.FromSeconds(10));
                phase = "completed before the cancel";
            }
            catch (OperationCanceledException)
            {
                // What a cancelled call should do.
            }
            var took = sw.Elapsed;
            phases[phase] = phases.GetValueOrDefault(phase) + 1;
            Assert.True(took < TimeSpan.FromSeconds(1), $"point {i} ({phase}): the cancelled backup returned after {took.TotalMilliseconds:0} ms");
            returns.Add(took.TotalMilliseconds);
            await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(1), $"point {i} ({phase}, returned after {took.TotalMilliseconds:0} ms)", server);
        }

        await FullBackupAsync(c, CancellationToken.None, throttle: false);
        stop.Cancel();
        await writer;
        Assert.True(writes > points, $"writers made {writes} writes");
        returns.Sort();
        output.WriteLine($"cancel-to-return over {points} points: p50 {returns[returns.Count / 2]:0.0} ms, p99 {returns[(int)(returns.Count * 0.99)]:0.0} ms, max {returns[^1]:0.0} ms; phases: {string.Join(", ", phases.Select(p => $"{p.Key} {p.Value}"))}");
        output.WriteLine($"server fds {serverFds} -> {Fds(server.Pid)}, threads {serverThreads} -> {Threads(server.Pid)}; own fds {ownFds} -> {Fds(Environment.ProcessId)}");
        Assert.True(Fds(server.Pid) <= serverFds + 8, $"the server's open files and sockets grew from {serverFds} to {Fds(server.Pid)}");
        Assert.True(Threads(server.Pid) <= serverThreads + 8, $"the server's threads grew from {serverThreads} to {Threads(server.Pid)}");
        Assert.True(Fds(Environment.ProcessId) <= ownFds + 8, $"the client's open files and sockets grew from {ownFds} to {Fds(Environment.ProcessId)}");
        Assert.True(phases.Keys.Count(k => k != "completed before the cancel") >= 3, $"the cancel points cover too few phases: {string.Join(", ", phases.Keys)}");
    }

    private sealed class Progress(string target)
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public volatile string Value = "begin";
        public Task Reached => _reached.Task;

        public void At(string phase)
        {
            Value = phase;
            if (phase == target)
            {
                _reached.TrySetResult();
            }
        }
    }

    private static async Task FullBackupAsync(BluebackClient c, CancellationToken ct, bool throttle, Progress? progress = null)
    {
        void At(string p) => progress?.At(p);
        At("begin");
        await using var s = await c.BeginBackupAsync("store", "full", ct);
        var buffer = new byte[256 * 1024];
        foreach (var db in s.Databases)
        {
            At("opening an image");
            await using var image = await s.OpenDatabaseImageAsync(db.Name, ct);
            At("mid-image");
            while (await image.ReadAsync(buffer, ct) > 0)
            {
                if (throttle)
                {
                    await Task.Delay(2, ct);
                }
            }
            At("between images");
        }
        At("listing logs");
        var logs = await s.ListLogsAsync(ct);
        foreach (var g in logs.Generations)
        {
            await using var log = await s.OpenLogAsync(g.Generation, ct);
            At("mid-log");
            while (await log.ReadAsync(buffer, ct) > 0)
            {
                if (throttle)
                {
                    await Task.Delay(2, ct);
                }
            }
        }
        At("before end");
        if (throttle)
        {
            await Task.Delay(20, ct);
        }
        await s.EndAsync(ct);
    }

    private static int Fds(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    private static int Threads(int pid) =>
        int.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal))[8..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
