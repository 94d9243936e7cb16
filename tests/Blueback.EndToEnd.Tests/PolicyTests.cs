using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Policies run by a real server with no cron line and no script: backups on schedule, retention, a proof of
/// every set; and a job stopped by a Ctrl+C of <c>policy run-now</c>, by the server's graceful stop and by a kill of the
/// server, each leaving no partial set listed and the next run fine; a run missed while the server was down runs once.</summary>
[Trait(Tier.Category, Tier.Slow)]
public partial class PolicyTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static async Task<string> ConfigAsync(TempDir dir, string policies, string extra = "")
    {
        var path = dir["server.json"];
        await File.WriteAllTextAsync(path, $$"""
            { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ] },
                             { "name": "directory", "databases": [ { "name": "directory" } ] } ],
              {{extra}}
              "allowShortSchedules": true,
              "policies": [ {{policies}} ] }
            """);
        return path;
    }

    /// <summary>Waits (bounded) until <paramref name="done"/> holds for the policy's history.</summary>
    internal static async Task<List<PolicyJobInfo>> WaitForHistoryAsync(PolicyCalls calls, string policy, Func<List<PolicyJobInfo>, bool> done, TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var jobs = await calls.HistoryAsync(policy, 200, CancellationToken.None);
            if (done(jobs))
            {
                return jobs;
            }
            Assert.True(sw.Elapsed < bound, $"policy {policy}: not done within {bound}; history:\n{string.Join('\n', jobs.Select(j => $"{j.Kind} {j.Trigger} {j.State} {j.Error}"))}");
            await Task.Delay(250);
        }
    }

    private static async Task WriteUntilAsync(BluebackClient c, int valueSize, CancellationToken stop)
    {
        int i = 0;
        var value = new byte[valueSize];
        while (!stop.IsCancellationRequested)
        {
            Random.Shared.NextBytes(value);
            try
            {
                await c.PutAsync("store", i % 2 == 0 ? "mailbox" : "public", "t", Encoding.UTF8.GetBytes($"k{i % 400:D4}"), value, stop);
            }
            catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or BluebackApiException or IOException)
            {
                if (stop.IsCancellationRequested)
                {
                    return;
                }
                await Task.Delay(50, CancellationToken.None); // the server restarting under the test
            }
            i++;
        }
    }

    [Fact(Timeout = 540_000)]
    public async Task A_policy_takes_backups_on_schedule_applies_retention_and_proves_every_set_while_writers_run()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var config = await ConfigAsync(dir, $$"""
            { "name": "nightly", "instance": "store", "repository": { "location": "{{repo}}" },
              "full": "1h", "incremental": "2s", "changedPages": true, "retention": { "keepLast": 3 }, "shipping": true, "shippingMaxLag": "1s" }
            """);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        var calls = new PolicyCalls(c);
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(() => WriteUntilAsync(c, 2000, stop.Token));

        await WaitForHistoryAsync(calls, "nightly", h => h.Count(j => j is { Kind: PolicyJobKind.Incremental, State: PolicyJobState.Succeeded }) >= 3, TimeSpan.FromSeconds(120));
        // Shipping on: the server keeps a shipper running once the first full is in, and the repository lists shipped logs.
        var shipped = Stopwatch.StartNew();
        while (!JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement.EnumerateArray().Any(s => s.GetProperty("type").GetString() == "shipped"))
        {
            Assert.True(shipped.Elapsed < TimeSpan.FromSeconds(60), $"no shipped generation within a minute; shipper: {(await calls.GetAsync("nightly", CancellationToken.None)).Shipper}");
            await Task.Delay(500);
        }
        Assert.StartsWith("running", (await calls.GetAsync("nightly", CancellationToken.None)).Shipper, StringComparison.Ordinal);
        // While the writers are busy a proof runs 30 ms of each second (they come first); once they stop, proofs run freely.
        stop.Cancel();
        await writer;
        // Proofs share the lane with an incremental every 2 s: on a loaded machine (the quick tier's parallel assemblies)
        // two of them took the first two minutes.
        var jobs = await WaitForHistoryAsync(calls, "nightly", h => h.Count(j => j is { Kind: PolicyJobKind.Prove, State: PolicyJobState.Succeeded }) >= 3, TimeSpan.FromSeconds(300));

        // No cron line, no script: the repository was made, a full came first, incrementals followed, each was proven.
        Assert.DoesNotContain(jobs, j => j.State is PolicyJobState.Failed or PolicyJobState.Interrupted);
        var first = jobs.Where(j => j.Kind is PolicyJobKind.Full or PolicyJobKind.Incremental).MinBy(j => j.Started)!;
        Assert.Equal(PolicyJobKind.Full, first.Kind);
        Assert.All(jobs.Where(j => j is { Kind: PolicyJobKind.Prove, State: PolicyJobState.Succeeded }), j => Assert.True(j.DigestMatch, $"proof {j.Id} of set {j.Set}: digest match {j.DigestMatch}"));
        Assert.All(jobs.Where(j => j is { Kind: PolicyJobKind.Full or PolicyJobKind.Incremental, State: PolicyJobState.Succeeded }), j => Assert.True(j.Bytes > 0 && j.RateMBps > 0 && j.Set is { Length: 32 }));
        // The server's history records the chain's head after each backup, apart from the repository: the chain that
        // backups, the shipper and retention all appended to at once checks clean against the newest one.
        var newest = jobs.Where(j => j is { Kind: PolicyJobKind.Full or PolicyJobKind.Incremental, State: PolicyJobState.Succeeded }).MaxBy(j => j.Started)!;
        Assert.Matches("^[0-9]+:[0-9a-f]{64}$", newest.ChainHead);
        var chain = Cli("verify", "--repo", repo, "--set", newest.Set!, "--expect-head", newest.ChainHead!);
        Assert.True(chain.Exit == 0, $"verify --expect-head {newest.ChainHead}: exit {chain.Exit}\n{chain.Out}\n{chain.Err}");
        Assert.Contains(": OK", chain.Out.Split('\n').Single(l => l.StartsWith("chain: ", StringComparison.Ordinal)), StringComparison.Ordinal);

        var list = Cli("policy", "list", "--server", server.Url);
        Assert.True(list.Exit == 0, list.Err);
        Assert.Contains("nightly", list.Out, StringComparison.Ordinal);
        Assert.Contains("proven", list.Out, StringComparison.Ordinal);
        var show = Cli("policy", "show", "nightly", "--server", server.Url);
        Assert.True(show.Exit == 0, show.Err);
        Assert.Contains("incremental every 2s (changed pages)", show.Out, StringComparison.Ordinal);
        Assert.Contains("digest match", show.Out, StringComparison.Ordinal);
        var history = Cli("policy", "history", "nightly", "--server", server.Url, "--limit", "100", "--json");
        Assert.True(history.Exit == 0, history.Err);
        var listed = JsonDocument.Parse(history.Out).RootElement.GetProperty("jobs").EnumerateArray().ToList();
        Assert.Contains(listed, j => j.GetProperty("kind").GetString() == "forget" && j.GetProperty("state").GetString() == "succeeded");

        // What the server says it proved, the repository says too, and a proof by hand agrees.
        var sets = JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement.EnumerateArray().ToList();
        Assert.Contains(sets, s => s.GetProperty("proved").ValueKind == JsonValueKind.Object && s.GetProperty("proved").GetProperty("digestMatch").GetBoolean());
        var none = Cli("policy", "show", "nosuch", "--server", server.Url);
        Assert.Equal(2, none.Exit);
        Assert.Contains("no policy 'nosuch'", none.Err, StringComparison.Ordinal);
    }

    /// <summary>A policy's backup that ends after its set's commit (here the server's graceful stop while the program
    /// sat between the commit and the log truncation) is recorded as taken, naming its set and what was left undone,
    /// and is not taken again. Before, it was "cancelled ... no partial set is listed" beside a listed set (and a
    /// failure there was counted as failed and retried, taking another full).</summary>
    [Fact(Timeout = 300_000)]
    public async Task A_policy_backup_stopped_after_its_commit_is_recorded_with_its_set_and_not_taken_again()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var config = await ConfigAsync(dir, $$"""{ "name": "slow", "instance": "store", "repository": { "location": "{{repo}}" }, "full": "1h", "prove": { "afterEach": false } }""");
        // Every program the server starts inherits the failpoint: it waits a minute right after its commit.
        var server = await ServerProcess.StartInAsync(["env", $"{Blueback.Cli.Commands.BackupCommand.FailpointVariable}=after-commit"], dir["data"], false, "--config", config);
        string jobId;
        List<string> sets;
        try
        {
            using var c = new BluebackClient(server.Url);
            var calls = new PolicyCalls(c);
            var sw = Stopwatch.StartNew();
            while (true)
            {
                var running = (await calls.GetAsync("slow", CancellationToken.None)).Running;
                sets = SetIds(repo);
                if (running is not null && sets.Count == 1)
                {
                    jobId = running.Id;
                    break;
                }
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"the policy's first full did not commit its set within a minute (running: {running?.Id}, sets: {sets.Count})");
                await Task.Delay(200);
            }
            await server.TerminateAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            server.Dispose();
        }
        server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        try
        {
            using var c = new BluebackClient(server.Url);
            var calls = new PolicyCalls(c);
            var job = await calls.JobAsync("slow", jobId, CancellationToken.None);
            Assert.True(job.State == PolicyJobState.Succeeded, $"{job.State}: {job.Error}");
            Assert.Equal(sets[0], job.Set);
            Assert.Contains("was stopped after its commit", job.Error, StringComparison.Ordinal);
            await Task.Delay(TimeSpan.FromSeconds(3)); // a full counted as not taken would run again at once
            var fulls = (await calls.HistoryAsync("slow", 50, CancellationToken.None)).Where(j => j.Kind == PolicyJobKind.Full).ToList();
            Assert.True(fulls.Count == 1, $"fulls: {string.Join("; ", fulls.Select(j => $"{j.State} {j.Error}"))}");
            Assert.Equal(sets, SetIds(repo));
            Assert.Equal(0, Cli("verify", "--repo", repo).Exit);
        }
        finally
        {
            server.Dispose();
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Signal(int pid, int signal);

    /// <summary>The repository's sets; none while the policy has not made the repository yet (list's exit 3: polled
    /// from the policy's start, under load the poll came first and parsed an empty output).</summary>
    private static List<string> SetIds(string repo)
    {
        var list = Cli("list", "--repo", repo, "--json");
        if (list.Exit == Blueback.Protocol.Programs.ExitCodes.NotFound)
        {
            return [];
        }
        Assert.True(list.Exit == 0, $"list exit {list.Exit}: {list.Err}");
        return JsonDocument.Parse(list.Out).RootElement.EnumerateArray().Select(s => s.GetProperty("id").GetString()!).ToList();
    }

    /// <summary>Waits until the policy runs a job of this kind and its program has begun sending (so a stop lands mid-backup).
    /// Two minutes: the first progress comes once a whole 8 MiB chunk has arrived, at the test's 1 MB/s, and the quick
    /// tier's load once held a job past one minute (what the policy showed then is in the message).</summary>
    private static async Task<PolicyJobInfo> WaitRunningAsync(PolicyCalls calls, string policy)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var p = await calls.GetAsync(policy, CancellationToken.None);
            if (p.Running is { ProgressBytes: > 0 } job)
            {
                return job;
            }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(120), $"the policy's backup did not start sending within two minutes; the policy showed: {JsonSerializer.Serialize(p, Blueback.Protocol.ProtocolJson.Default.PolicyInfo)}");
            await Task.Delay(100);
        }
    }

    [Fact(Timeout = 400_000)]
    public async Task A_job_stopped_by_ctrl_c_of_run_now_by_a_graceful_stop_or_by_a_kill_of_the_server_leaves_no_partial_set_and_the_next_run_is_fine()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        // Backups sent at 1 MB/s while clients write: several seconds each, so that every stop lands mid-backup. The
        // directory instance's policy runs a full every 4 s: the restart after the kill finds a run missed.
        var config = await ConfigAsync(dir, $$"""
            { "name": "slow", "instance": "store", "repository": { "location": "{{repo}}" }, "full": "1h", "prove": { "afterEach": false } },
            { "name": "often", "instance": "directory", "repository": { "location": "{{dir["repo2"]}}" }, "full": "4s", "prove": { "afterEach": false } }
            """, """ "backupBusyRateMBps": 1, """);
        var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        try
        {
            using var c = new BluebackClient(server.Url);
            var calls = new PolicyCalls(c);
            await WaitForHistoryAsync(calls, "slow", h => h.Any(j => j is { Kind: PolicyJobKind.Full, State: PolicyJobState.Succeeded }), TimeSpan.FromSeconds(60));
            var before = SetIds(repo);
            Assert.Single(before);
            // 18 MB of new random values before each stop: chunks the repository already holds (those of the first
            // full, or uploaded by a job stopped earlier) are not sent again, and a backup that sent next to nothing
            // would commit before the stop lands.
            async Task FreshBigValuesAsync(BluebackClient client)
            {
                var value = new byte[60_000];
                for (int i = 0; i < 300; i++)
                {
                    Random.Shared.NextBytes(value);
                    await client.PutAsync("store", "mailbox", "big", Encoding.UTF8.GetBytes($"b{i:D4}"), value);
                }
            }
            await FreshBigValuesAsync(c);
            using var stop = new CancellationTokenSource();
            var writer = Task.Run(() => WriteUntilAsync(new BluebackClient(server.Url), 100, stop.Token));

            // 1. Ctrl+C of 'policy run-now': the job is cancelled on the server, its program removes its partial set.
            var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "policy", "run-now", "slow", "--kind", "full", "--server", server.Url]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            using (var run = Process.Start(psi)!)
            {
                var err = run.StandardError.ReadToEndAsync();
                var job = await WaitRunningAsync(calls, "slow");
                Assert.Equal(PolicyJobTrigger.RunNow, job.Trigger);
                Assert.Equal(0, Signal(run.Id, 2));
                Assert.True(run.WaitForExit(30_000), "run-now did not exit within 30 s of its Ctrl+C");
                Assert.True(run.ExitCode == 130, $"exit {run.ExitCode}: {await err}");
                Assert.Contains("cancelled", await err, StringComparison.Ordinal);
                var ended = await calls.JobAsync("slow", job.Id, CancellationToken.None);
                Assert.Equal(PolicyJobState.Cancelled, ended.State);
            }
            Assert.Equal(before, SetIds(repo));

            // 2. The server's graceful stop mid-job: the job ends as cancelled, recorded, nothing partial listed.
            await FreshBigValuesAsync(c);
            var second = await calls.RunAsync("slow", "full", null, CancellationToken.None);
            await WaitRunningAsync(calls, "slow");
            await server.TerminateAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(before, SetIds(repo));
            server.Dispose();
            server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
            using var c2 = new BluebackClient(server.Url);
            calls = new PolicyCalls(c2);
            var stopped = await calls.JobAsync("slow", second.Id, CancellationToken.None);
            Assert.Equal(PolicyJobState.Cancelled, stopped.State);
            Assert.Contains("server stopped", stopped.Error, StringComparison.Ordinal);

            // 3. SIGKILL of the server mid-job (its program is not killed with it): after the restart the job is recorded
            // as interrupted, no partial set is listed, and the run missed by the other policy while down runs once.
            await FreshBigValuesAsync(c2);
            var third = await calls.RunAsync("slow", "full", null, CancellationToken.None);
            await WaitRunningAsync(calls, "slow");
            Assert.Equal(0, Signal(server.Pid, 9));
            server.Dispose();
            await Task.Delay(TimeSpan.FromSeconds(5)); // down longer than 'often' waits between fulls
            var restarted = DateTime.UtcNow;
            server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
            using var c3 = new BluebackClient(server.Url);
            calls = new PolicyCalls(c3);
            var killed = await calls.JobAsync("slow", third.Id, CancellationToken.None);
            Assert.Equal(PolicyJobState.Interrupted, killed.State);
            var often = await WaitForHistoryAsync(calls, "often", h => h.Any(j => j.Started > restarted && j.State == PolicyJobState.Succeeded), TimeSpan.FromSeconds(60));
            var afterRestart = often.Where(j => j.Started > restarted).OrderBy(j => j.Started).ToList();
            Assert.Equal(PolicyJobTrigger.Missed, afterRestart[0].Trigger);
            Assert.True(afterRestart.Count(j => j.Started < afterRestart[0].Started.AddSeconds(3)) == 1, "a missed run runs once, not once per interval missed");
            stop.Cancel();
            await writer;

            // The program the kill left running found its server gone and removed what it wrote: still no partial set.
            Assert.Equal(before, SetIds(repo));
            // And the next run is fine.
            var next = Cli("policy", "run-now", "slow", "--kind", "full", "--server", server.Url);
            Assert.True(next.Exit == 0, next.Out + next.Err);
            Assert.Contains("succeeded", next.Out, StringComparison.Ordinal);
            Assert.Equal(2, SetIds(repo).Count);
            var verify = Cli("verify", "--repo", repo);
            Assert.True(verify.Exit == 0, verify.Out);
        }
        finally
        {
            server.Dispose();
        }
    }
}
