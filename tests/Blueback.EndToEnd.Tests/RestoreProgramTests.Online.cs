using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Storage.Format;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback restore --server</c>: through a running server's restore API, as a new instance beside the
/// live ones or in place of one, while the server keeps serving everything else.</summary>
public partial class RestoreProgramTests
{
    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Online_restores_of_every_set_type_appear_as_new_instances_while_writers_keep_committing()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var data = dir["data"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        long[] beforeFull, beforeDiff, beforeInc;
        string full, diff, inc;
        Writers writers;
        using (var server = await ServerProcess.StartAsync(data))
        using (var c = new BluebackClient(server.Url))
        {
            await using (writers = new Writers(c, 3))
            {
                await Task.Delay(500);
                beforeFull = writers.Snapshot();
                full = Backup(server, repo, "full");
                await Task.Delay(300);
                beforeDiff = writers.Snapshot();
                diff = Backup(server, repo, "differential");
                await Task.Delay(300);
                Backup(server, repo, "incremental");
                await Task.Delay(300);
                beforeInc = writers.Snapshot();
                inc = Backup(server, repo, "incremental");

                // Restored beside the live instance, which the writers keep committing to throughout.
                foreach (var (set, name) in new[] { (full, "r-full"), (diff, "r-diff"), (inc, "r-inc") })
                {
                    var atStart = writers.Snapshot();
                    var r = Restore("--repo", repo, "--set", set, "--server", server.Url, "--as", name, "--json");
                    Assert.True(r.Exit == 0, r.Err);
                    var sent = JsonDocument.Parse(r.Out).RootElement;
                    Assert.True(sent.GetProperty("wire").GetInt64() < sent.GetProperty("bytes").GetInt64() / 2,
                        $"the chunks went as the repository stores them, compressed: {sent.GetProperty("wire")} bytes sent for {sent.GetProperty("bytes")}");
                    Assert.True(writers.Snapshot().Zip(atStart).All(p => p.First > p.Second), "the live instance kept committing during the online restore");
                    Assert.NotNull(await c.GetAsync(name, "mailbox", "t", "w0-n"u8.ToArray()));
                }

                // The default name is beside the live one, never over it.
                var byDefault = Restore("--repo", repo, "--set", full, "--server", server.Url);
                Assert.True(byDefault.Exit == 0, byDefault.Err);
                Assert.NotNull(await c.GetAsync("store-restored", "mailbox", "t", "w0-n"u8.ToArray()));
                var twice = Restore("--repo", repo, "--set", full, "--server", server.Url, "--as", "r-full");
                Assert.Equal(2, twice.Exit);
                Assert.Contains("exists and is online", twice.Err, StringComparison.Ordinal);
            }
            var status = await c.StatusAsync();
            Assert.All(new[] { "store", "directory", "r-full", "r-diff", "r-inc", "store-restored" }, n => Assert.Equal("online", status.Instances.Single(i => i.Name == n).State));
        }

        // Each restored state is a committed state at or after its set began; the server serves them after a restart.
        foreach (var (name, before) in new[] { ("r-full", beforeFull), ("r-diff", beforeDiff), ("r-inc", beforeInc) })
        {
            var state = StateOf(Path.Combine(data, name), 3);
            Assert.True(state.Zip(before).All(p => p.First >= p.Second), $"{name}: restored [{string.Join(",", state)}], acknowledged before the set [{string.Join(",", before)}]");
        }
        using (var again = await ServerProcess.StartAsync(data))
        using (var c = new BluebackClient(again.Url))
        {
            Assert.NotNull(await c.GetAsync("r-inc", "public", "t", "w0-k1"u8.ToArray()));
        }

        // Point in time, online: exactly the commits up to the chosen log position.
        var sets = JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement.EnumerateArray().ToList();
        var fullEnd = new Lsn(sets.First(x => x.GetProperty("id").GetString() == full).GetProperty("genHigh").GetUInt32() + 1, 4096);
        var lastEnd = new Lsn(sets.First(x => x.GetProperty("id").GetString() == inc).GetProperty("genHigh").GetUInt32() + 1, 4096);
        var pts = writers.Points.Where(p => p.Key.W == 1 && Parse(p.Value.Lsn) > fullEnd && Parse(p.Value.Lsn) < lastEnd).OrderBy(p => p.Key.I).ToList();
        Assert.True(pts.Count > 5, "writer 1 committed between the full set's end and the last set's end");
        var target = pts[pts.Count / 2];
        using (var server = await ServerProcess.StartAsync(data))
        {
            var pit = Restore("--repo", repo, "--set", "latest", "--stop-at", target.Value.Lsn, "--server", server.Url, "--as", "pit");
            Assert.True(pit.Exit == 0, pit.Err);
        }
        var got = StateOf(Path.Combine(data, "pit"), 3);
        for (int w = 0; w < 3; w++)
        {
            Assert.Equal(writers.Points.Where(p => p.Key.W == w && Parse(p.Value.Lsn) <= Parse(target.Value.Lsn)).Select(p => (long)p.Key.I).DefaultIfEmpty(0).Max(), got[w]);
        }
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task An_online_restore_in_place_loses_no_commit_answers_503_meanwhile_and_other_instances_keep_serving()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var data = dir["data"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(data);
        using var c = new BluebackClient(server.Url);
        await c.PutAsync("directory", "directory", "t", "alive"u8.ToArray(), "yes"u8.ToArray());
        long[] acked;
        await using (var writers = new Writers(c, 3))
        {
            await Task.Delay(300);
            Backup(server, repo, "full");
            await Task.Delay(700); // commits that only the live logs hold
            await writers.DisposeAsync();
            acked = writers.Snapshot();
        }

        // While the restore runs: the instance answers 503, the other instance answers as always.
        using var stopProbe = new CancellationTokenSource();
        var seen = new List<HttpStatusCode>();
        int otherFailures = 0, otherOk = 0;
        // A thread of its own, with blocking calls: the pool's threads are few on a small machine while the
        // restore program runs, and a starved probe would see nothing.
        var probe = new Thread(() =>
        {
            using var raw = TestToken.Http(server.Url, TimeSpan.FromSeconds(10));
            while (!stopProbe.IsCancellationRequested)
            {
                using (var r = raw.Send(new HttpRequestMessage(HttpMethod.Get, Routes.Key("store", "mailbox", "t", "w0-n"u8))))
                {
                    lock (seen)
                    {
                        if (seen.Count == 0 || seen[^1] != r.StatusCode)
                        {
                            seen.Add(r.StatusCode);
                        }
                    }
                    if (r.StatusCode == HttpStatusCode.ServiceUnavailable)
                    {
                        Assert.Contains("being restored", new StreamReader(r.Content.ReadAsStream()).ReadToEnd(), StringComparison.Ordinal);
                    }
                }
                using (var other = raw.Send(new HttpRequestMessage(HttpMethod.Get, Routes.Key("directory", "directory", "t", "alive"u8))))
                {
                    if (other.StatusCode == HttpStatusCode.OK)
                    {
                        otherOk++;
                    }
                    else
                    {
                        otherFailures++;
                    }
                }
                Thread.Sleep(2);
            }
        }) { IsBackground = true };
        probe.Start();
        await Task.Delay(200);
        var restore = Restore("--repo", repo, "--set", "latest", "--server", server.Url, "--instance", "store", "--replace", "--json");
        await Task.Delay(200);
        stopProbe.Cancel();
        Assert.True(probe.Join(TimeSpan.FromSeconds(15)), "the probe stopped");
        Assert.True(restore.Exit == 0, restore.Err);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK], seen);
        Assert.Equal(0, otherFailures);
        Assert.True(otherOk > 10, $"the other instance answered {otherOk} times");

        // Every acknowledged commit is back, and the instance takes writes again.
        for (int w = 0; w < 3; w++)
        {
            var n = await c.GetAsync("store", "mailbox", "t", System.Text.Encoding.UTF8.GetBytes($"w{w}-n"));
            Assert.Equal(acked[w].ToString(System.Globalization.CultureInfo.InvariantCulture), System.Text.Encoding.UTF8.GetString(n!));
        }
        await c.PutAsync("store", "mailbox", "t", "after"u8.ToArray(), "1"u8.ToArray());
        await server.TerminateAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(acked, StateOf(Path.Combine(data, "store"), 3));
        Assert.True(Directory.EnumerateDirectories(Path.Combine(data, "store"), "replaced-*").Any(), "the replaced files are kept aside");
    }

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task An_online_restore_stopped_at_any_moment_exits_130_leaves_the_instance_untouched_or_offline_and_completes_when_run_again()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var data = dir["data"];
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ] }, { "name": "directory", "databases": [ { "name": "directory" } ] } ], "backupLeaseSeconds": 3 }""");
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        long[] acked;
        var server = await ServerProcess.StartAsync(data, false, "--config", config);
        try
        {
            using (var c = new BluebackClient(server.Url))
            {
                await BackupApiTests.FillAsync(c);
                await c.PutAsync("directory", "directory", "t", "alive"u8.ToArray(), "yes"u8.ToArray());
                await using var writers = new Writers(c, 2);
                await Task.Delay(300);
                Backup(server, repo, "full");
                await Task.Delay(300);
                Backup(server, repo, "incremental");
                await writers.DisposeAsync();
                acked = writers.Snapshot();
            }
            var reference = Restore("--repo", repo, "--server", server.Url, "--as", "reference");
            Assert.True(reference.Exit == 0, reference.Err);
            // A new instance holds what the sets hold; one restored in place also what its live logs hold after them.
            var atSetEnd = new string[2];
            using (var c = new BluebackClient(server.Url))
            {
                for (int w = 0; w < 2; w++)
                {
                    atSetEnd[w] = System.Text.Encoding.UTF8.GetString((await c.GetAsync("reference", "mailbox", "t", System.Text.Encoding.UTF8.GetBytes($"w{w}-n")))!);
                }
            }

            var rng = new Random(11);
            for (int round = 0; round < 6; round++)
            {
                bool replace = round % 2 == 0;
                var name = replace ? "store" : $"copy{round}";
                string[] target = replace ? ["--instance", "store", "--replace"] : ["--as", name];
                var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "restore", "--repo", repo, "--server", server.Url, .. target]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
                using var p = Process.Start(psi)!;
                var started = new TaskCompletionSource();
                p.ErrorDataReceived += (_, e) => started.TrySetResult();
                p.BeginErrorReadLine();
                _ = p.StandardOutput.ReadToEndAsync();
                await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
                await Task.Delay(TimeSpan.FromMilliseconds(rng.NextDouble() * reference.Took.TotalMilliseconds * 0.7));
                var sw = Stopwatch.StartNew();
                _ = Kill(p.Id, 15);
                Assert.True(p.WaitForExit(5_000), "restore did not exit after SIGTERM");
                if (p.ExitCode != 0)
                {
                    Assert.Equal(130, p.ExitCode);
                    Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"round {round}: exit took {sw.Elapsed.TotalMilliseconds:0} ms");
                }

                // Whatever the moment: the other instance serves, and the target is online (untouched or
                // restored) or offline saying why; never half-mounted.
                InstanceStatus? settled;
                using (var c = new BluebackClient(server.Url))
                {
                    Assert.NotNull(await c.GetAsync("directory", "directory", "t", "alive"u8.ToArray()));
                    var st = settled = await WaitSettledAsync(c, name);
                    if (st is not null && st.State != "online")
                    {
                        Assert.Equal("offline", st.State);
                        Assert.Contains("run the restore again", st.Detail, StringComparison.Ordinal);
                        var refused = await Assert.ThrowsAsync<BluebackApiException>(() => c.GetAsync(name, "mailbox", "t", "w0-n"u8.ToArray()));
                        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
                    }
                }

                // A server restart keeps an unfinished restore offline and serves the rest.
                if (round == 2)
                {
                    await server.TerminateAsync(TimeSpan.FromSeconds(10));
                    server.Dispose();
                    server = await ServerProcess.StartAsync(data, false, "--config", config);
                    using var c = new BluebackClient(server.Url);
                    var st = await c.StatusAsync();
                    Assert.Equal(settled?.State, st.Instances.SingleOrDefault(i => i.Name == name)?.State);
                    Assert.Equal("online", st.Instances.Single(i => i.Name == "directory").State);
                }

                var context = $"round {round}, {(replace ? "in place" : "new")}, stopped program exited {p.ExitCode}";
                if (replace || settled?.State != "online")
                {
                    // A new instance that is online was restored before the signal landed; anything else runs again.
                    var rerun = Restore(["--repo", repo, "--server", server.Url, .. target]);
                    Assert.True(rerun.Exit == 0, $"{context}: {rerun.Err}");
                    context += $"; rerun: {rerun.Out}";
                }
                using (var c = new BluebackClient(server.Url))
                {
                    for (int w = 0; w < 2; w++)
                    {
                        var n = await c.GetAsync(name, "mailbox", "t", System.Text.Encoding.UTF8.GetBytes($"w{w}-n"));
                        var expected = replace ? acked[w].ToString(System.Globalization.CultureInfo.InvariantCulture) : atSetEnd[w];
                        Assert.True(expected == System.Text.Encoding.UTF8.GetString(n!), $"{context}: writer {w} expected {expected}, restored {System.Text.Encoding.UTF8.GetString(n!)}");
                    }
                }
            }
        }
        finally
        {
            server.Dispose();
        }
    }

    /// <summary>The instance's status once no restore is running on it (a stopped client's session is aborted by
    /// its DELETE at once, or by the lease); null when the server no longer knows it (a new instance never written).</summary>
    private static async Task<InstanceStatus?> WaitSettledAsync(BluebackClient c, string name)
    {
        var until = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var st = (await c.StatusAsync()).Instances.SingleOrDefault(i => i.Name == name);
            if (st is null || st.State != "restoring")
            {
                return st;
            }
            Assert.True(DateTime.UtcNow < until, $"instance {name} still restoring 15 s after its client stopped");
            await Task.Delay(100);
        }
    }
}
