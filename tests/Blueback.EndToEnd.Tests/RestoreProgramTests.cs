using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Storage;
using Blueback.Storage.Format;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback restore</c> and <c>db recover</c> as an operator runs them, against sets a real server
/// wrote under load: every kind of chain, exact stop points, a lost database brought back in place, interruptions.</summary>
[Collection("restore")]
public partial class RestoreProgramTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    /// <summary>Writers, each committing numbered transactions that touch both databases: for writer w and number i,
    /// its counter, a marker of i, and one of seven keys, all set to i. Records every acknowledged commit's point.</summary>
    internal sealed class Writers : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _tasks;

        public Writers(BluebackClient c, int count)
        {
            Acked = new long[count];
            _tasks = Enumerable.Range(0, count).Select(w => Task.Run(async () =>
            {
                for (int i = 1; !_stop.IsCancellationRequested; i++)
                {
                    var v = i.ToString(CultureInfo.InvariantCulture);
                    var point = await c.BatchAsync("store", new BatchRequest
                    {
                        Ops =
                        [
                            new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"w{w}-n", Value = v },
                            new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"w{w}-m{i:D6}", Value = new string('x', 200 + (i % 900)) },
                            new BatchOp { Op = "put", Database = "public", Table = "t", Key = $"w{w}-k{i % 7}", Value = v },
                        ],
                    });
                    Points[(w, i)] = point;
                    Acked[w] = i;
                }
            })).ToList();
        }

        public ConcurrentDictionary<(int W, int I), CommitPoint> Points { get; } = new();
        public long[] Acked { get; }

        public long[] Snapshot() => Acked.ToArray();

        public async ValueTask DisposeAsync()
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }
            _stop.Cancel();
            await Task.WhenAll(_tasks);
        }
    }

    /// <summary>Reads a restored instance: per writer, the last number whose transaction is present, after checking
    /// that the state is exactly transactions 1..n of that writer (markers, counter and keys agree), and that every
    /// database file passes <c>db checksum</c>.</summary>
    internal static long[] StateOf(string instanceDir, int writers)
    {
        foreach (var f in Directory.GetFiles(instanceDir, "*.bdb"))
        {
            var check = Cli("db", "checksum", f);
            Assert.True(check.Exit == 0, $"db checksum {f}: {check.Out}{check.Err}");
        }
        using var inst = StorageInstance.Open(instanceDir, new InstanceOptions());
        using var r = inst.BeginRead();
        var mailbox = inst.GetDatabase("mailbox");
        var pub = inst.GetDatabase("public");
        var result = new long[writers];
        for (int w = 0; w < writers; w++)
        {
            var nBytes = r.Get(mailbox, "t", Encoding.UTF8.GetBytes($"w{w}-n"));
            long n = nBytes is null ? 0 : long.Parse(Encoding.UTF8.GetString(nBytes), CultureInfo.InvariantCulture);
            var markers = r.Scan(mailbox, "t", Encoding.UTF8.GetBytes($"w{w}-m"), Encoding.UTF8.GetBytes($"w{w}-n"))
                .Select(kv => long.Parse(Encoding.UTF8.GetString(kv.Key)[$"w{w}-m".Length..], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(1, (int)n).Select(i => (long)i), markers);
            for (int k = 0; k < 7; k++)
            {
                long expected = Enumerable.Range(0, 7).Select(d => n - d).FirstOrDefault(i => i >= 1 && i % 7 == k);
                var got = r.Get(pub, "t", Encoding.UTF8.GetBytes($"w{w}-k{k}"));
                Assert.Equal(expected, got is null ? 0 : long.Parse(Encoding.UTF8.GetString(got), CultureInfo.InvariantCulture));
            }
            result[w] = n;
        }
        return result;
    }

    private static string Backup(ServerProcess server, string repo, string type)
    {
        var b = Cli("backup", "--server", server.Url, "--repo", repo, "--type", type, "--json");
        Assert.True(b.Exit == 0, b.Err);
        return JsonDocument.Parse(b.Out).RootElement.GetProperty("set").GetString()!;
    }

    private static (int Exit, string Out, string Err, TimeSpan Took) Restore(params string[] args) => Cli(["restore", .. args]);

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Every_chain_restores_under_load_to_a_committed_state_and_stop_points_are_exact()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        long[] beforeFull, beforeDiff, beforeInc2;
        string full, diff, inc1, inc2;
        Writers writers;
        using (var server = await ServerProcess.StartAsync(dir["data"]))
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
                inc1 = Backup(server, repo, "incremental");
                await Task.Delay(500);
                beforeInc2 = writers.Snapshot();
                inc2 = Backup(server, repo, "incremental");
            }
        }

        // Each set (and the chain it needs) restores to a state at or after its own start.
        foreach (var (set, before, name) in new[] { (full, beforeFull, "full"), (diff, beforeDiff, "diff"), (inc2, beforeInc2, "inc2") })
        {
            var r = Restore("--repo", repo, "--set", set, "--to", dir[$"r-{name}"]);
            Assert.True(r.Exit == 0, r.Err);
            var state = StateOf(Path.Combine(dir[$"r-{name}"], "store"), 3);
            for (int w = 0; w < 3; w++)
            {
                Assert.True(state[w] >= before[w], $"{name}: writer {w} restored to {state[w]}, but {before[w]} was acknowledged before the set began");
            }
        }

        // The restored directory is what 'blueback serve --data' opens.
        using (var restored = await ServerProcess.StartAsync(dir["r-inc2"]))
        using (var c2 = new BluebackClient(restored.Url))
        {
            Assert.NotNull(await c2.GetAsync("store", "mailbox", "t", "w0-n"u8.ToArray()));
        }

        // Point in time between the two incrementals: by log position and by time, exactly.
        var sets = JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement.EnumerateArray().ToList();
        var inc1End = new Lsn(sets.First(s => s.GetProperty("id").GetString() == inc1).GetProperty("genHigh").GetUInt32() + 1, 4096);
        // Before the generation after inc2's last: writers go on committing while inc2 streams (a backup under load
        // is paced to the writers, so it can take seconds), and those commits are in no set.
        var inc2After = new Lsn(sets.First(s => s.GetProperty("id").GetString() == inc2).GetProperty("genHigh").GetUInt32() + 1, 0);
        var candidates = writers.Points.Where(p => Parse(p.Value.Lsn) > inc1End && Parse(p.Value.Lsn) < inc2After && p.Key.W == 0).OrderBy(p => p.Key.I).ToList();
        Assert.True(candidates.Count > 5, "writer 0 committed between the incrementals");
        var target = candidates[candidates.Count / 3];
        var byLsn = Restore("--repo", repo, "--set", "latest", "--stop-at", target.Value.Lsn, "--to", dir["pit-lsn"]);
        Assert.True(byLsn.Exit == 0, byLsn.Err);
        var got = StateOf(Path.Combine(dir["pit-lsn"], "store"), 3);
        for (int w = 0; w < 3; w++)
        {
            Assert.Equal(writers.Points.Where(p => p.Key.W == w && Parse(p.Value.Lsn) <= Parse(target.Value.Lsn)).Select(p => (long)p.Key.I).DefaultIfEmpty(0).Max(), got[w]);
        }
        var time = target.Value.Time.ToString("O", CultureInfo.InvariantCulture);
        var byTime = Restore("--repo", repo, "--set", "latest", "--stop-at", time, "--to", dir["pit-time"]);
        Assert.True(byTime.Exit == 0, byTime.Err);
        got = StateOf(Path.Combine(dir["pit-time"], "store"), 3);
        for (int w = 0; w < 3; w++)
        {
            Assert.Equal(writers.Points.Where(p => p.Key.W == w && p.Value.Time <= target.Value.Time).Select(p => (long)p.Key.I).DefaultIfEmpty(0).Max(), got[w]);
        }

        // Refused: a stop point before the full set's end, and one after everything the repository holds.
        var early = Restore("--repo", repo, "--set", full, "--stop-at", "1:4096", "--to", dir["early"]);
        Assert.Equal(2, early.Exit);
        Assert.Contains("before the end of the restored full set", early.Err, StringComparison.Ordinal);
        var late = Restore("--repo", repo, "--set", "latest", "--stop-at", "2099-01-01T00:00:00Z", "--to", dir["late"]);
        Assert.Equal(2, late.Exit);
        Assert.Contains("after the newest set", late.Err, StringComparison.Ordinal);
        // An existing instance is never overwritten without --replace.
        var again = Restore("--repo", repo, "--set", full, "--to", dir["r-inc2"]);
        Assert.Equal(2, again.Exit);
        Assert.Contains("already holds an instance", again.Err, StringComparison.Ordinal);
    }

    private static Lsn Parse(string lsn) => Lsn.TryParse(lsn, out var l) ? l : throw new FormatException(lsn);

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_lost_database_is_restored_in_place_with_every_acknowledged_commit()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var data = dir["data"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        long[] acked;
        using (var server = await ServerProcess.StartAsync(data))
        using (var c = new BluebackClient(server.Url))
        {
            await using var writers = new Writers(c, 3);
            await Task.Delay(300);
            Backup(server, repo, "full");
            await Task.Delay(700); // commits that only the live logs hold
            await writers.DisposeAsync();
            acked = writers.Snapshot();
            server.Kill(); // a crash, then the disk loses a database
        }
        File.Delete(Path.Combine(data, "store", "mailbox.bdb"));
        var r = Restore("--repo", repo, "--set", "latest", "--to", data, "--replace");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Equal(acked, StateOf(Path.Combine(data, "store"), 3));
        Assert.True(Directory.EnumerateDirectories(Path.Combine(data, "store"), "replaced-*").Any(), "the replaced files are kept aside");
    }

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_restore_killed_or_stopped_at_any_moment_completes_when_run_again() => await KillAndRerunAsync(rounds: 4);

    [Fact(Timeout = 1_200_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public async Task A_restore_killed_at_many_moments_completes_when_run_again() => await KillAndRerunAsync(rounds: 20);

    private static async Task KillAndRerunAsync(int rounds)
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        long[] before;
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            await BackupApiTests.FillAsync(c);
            await using var writers = new Writers(c, 2);
            await Task.Delay(300);
            before = writers.Snapshot();
            Backup(server, repo, "full");
            await Task.Delay(300);
            Backup(server, repo, "incremental");
        }
        // How long an uninterrupted restore takes, to spread the interruptions over it.
        var reference = Restore("--repo", repo, "--to", dir["reference"]);
        Assert.True(reference.Exit == 0, reference.Err);
        var expected = StateOf(Path.Combine(dir["reference"], "store"), 2);
        Assert.True(expected[0] >= before[0]);

        var rng = new Random(7);
        var target = dir["target"];
        for (int round = 0; round < rounds; round++)
        {
            bool gentle = round % 2 == 1; // odd rounds: SIGTERM, which must exit 130 within 2 s; even: SIGKILL
            var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "restore", "--repo", repo, "--to", target]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var started = new TaskCompletionSource();
            p.ErrorDataReceived += (_, e) => started.TrySetResult();
            p.BeginErrorReadLine();
            _ = p.StandardOutput.ReadToEndAsync();
            if (gentle)
            {
                // A signal before the runtime has started the program ends it the default way (143); from its
                // first line on, the program handles it.
                await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
            }
            await Task.Delay(TimeSpan.FromMilliseconds(rng.NextDouble() * reference.Took.TotalMilliseconds * (gentle ? 0.6 : 1.1)));
            if (gentle)
            {
                var sw = Stopwatch.StartNew();
                _ = Kill(p.Id, 15);
                Assert.True(p.WaitForExit(5_000), "restore did not exit after SIGTERM");
                if (p.ExitCode != 0)
                {
                    Assert.Equal(130, p.ExitCode);
                    Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"exit took {sw.Elapsed.TotalMilliseconds:0} ms");
                }
            }
            else
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }
            var rerun = Restore("--repo", repo, "--to", target);
            Assert.True(rerun.Exit == 0, $"round {round}: {rerun.Err}");
            Assert.Equal(expected, StateOf(Path.Combine(target, "store"), 2));
            Directory.Delete(target, recursive: true);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
