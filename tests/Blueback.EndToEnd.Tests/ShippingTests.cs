using System.Globalization;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Continuous log shipping (docs/shipping.md) against real server and shipper processes: the recovery
/// point after the server and its whole data directory are lost, on a directory and on S3 with the shipper killed
/// and restarted, one shipper per instance, and the faults: a repository gone for a while, a full one, a damaged
/// shipped generation.</summary>
public class ShippingTests
{
    private static readonly TimeSpan MaxLag = TimeSpan.FromSeconds(2);

    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    /// <summary>Writers that commit numbered transactions (the shape <see cref="RestoreProgramTests.StateOf"/>
    /// checks) and remember when each was acknowledged; a writer stops at its first error (the server killed).</summary>
    internal sealed class TimedWriters : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _tasks;

        public TimedWriters(BluebackClient c, int count)
        {
            Acks = Enumerable.Range(0, count).Select(_ => new List<(long I, DateTime At)>()).ToArray();
            _tasks = Enumerable.Range(0, count).Select(w => Task.Run(async () =>
            {
                for (int i = 1; !_stop.IsCancellationRequested; i++)
                {
                    var v = i.ToString(CultureInfo.InvariantCulture);
                    try
                    {
                        await c.BatchAsync("store", new BatchRequest
                        {
                            Ops =
                            [
                                new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"w{w}-n", Value = v },
                                new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"w{w}-m{i:D6}", Value = new string('x', 200 + (i % 900)) },
                                new BatchOp { Op = "put", Database = "public", Table = "t", Key = $"w{w}-k{i % 7}", Value = v },
                            ],
                        }, _stop.Token);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or BluebackApiException or IOException)
                    {
                        return;
                    }
                    lock (Acks[w])
                    {
                        Acks[w].Add((i, DateTime.UtcNow));
                    }
                }
            })).ToList();
        }

        public List<(long I, DateTime At)>[] Acks { get; }

        public long Total => Acks.Sum(a => { lock (a) { return a.Count; } });

        /// <summary>Per writer, the last transaction acknowledged at or before <paramref name="time"/> (0: none).</summary>
        public long[] AckedBy(DateTime time) => Acks.Select(a => { lock (a) { return a.LastOrDefault(x => x.At <= time).I; } }).ToArray();

        public long[] Last => Acks.Select(a => { lock (a) { return a.Count == 0 ? 0 : a[^1].I; } }).ToArray();

        public async ValueTask DisposeAsync()
        {
            if (!_stop.IsCancellationRequested)
            {
                await _stop.CancelAsync();
            }
            await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>The recovery point: every commit acknowledged more than --max-lag before the server died is in
    /// what restore brings back, and nothing torn or invented (StateOf checks each writer's transactions are exactly
    /// 1..n, and every page's checksum).</summary>
    internal static void AssertRecoveryPoint(string restoredInstance, TimedWriters writers, DateTime killed)
    {
        var state = RestoreProgramTests.StateOf(restoredInstance, writers.Acks.Length);
        var mustHave = writers.AckedBy(killed - MaxLag);
        var last = writers.Last;
        for (int w = 0; w < state.Length; w++)
        {
            Assert.True(state[w] >= mustHave[w], $"writer {w}: transaction {mustHave[w]} was acknowledged more than {MaxLag.TotalSeconds} s before the kill but the restore holds only up to {state[w]}");
            Assert.True(state[w] <= last[w] + 1, $"writer {w}: the restore holds transaction {state[w]}, but only {last[w]} were acknowledged (and one more may have been in flight)");
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task A_server_and_its_data_directory_lost_under_load_lose_no_commit_older_than_max_lag()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var full = Cli("backup", "--server", server.Url, "--repo", repo);
        Assert.True(full.Exit == 0, full.Err);
        using var shipper = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "2s");
        var writers = new TimedWriters(c, 16);
        DateTime killed;
        await using (writers)
        {
            await Task.Delay(TimeSpan.FromSeconds(8));
            killed = DateTime.UtcNow;
            server.Kill(); // SIGKILL: no checkpoint, no goodbye to the shipper
        }
        Assert.True(writers.Total > 1000, $"only {writers.Total} commits in 8 s");
        Directory.Delete(dir["data"], recursive: true);
        var (exit, took) = await shipper.TerminateAsync(TimeSpan.FromSeconds(10));
        Assert.True(exit == 130, $"blueback ship exited {exit} on SIGTERM:\n{shipper.Err}");
        Assert.True(took < TimeSpan.FromSeconds(2), $"blueback ship took {took.TotalMilliseconds:0} ms to stop");
        Assert.Contains("shipped generation", shipper.Out, StringComparison.Ordinal);

        var list = Cli("list", "--repo", repo);
        Assert.Contains("shipped logs of store: generations", list.Out, StringComparison.Ordinal);
        var verify = Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        var restore = Cli("restore", "--repo", repo, "--set", "latest", "--to", dir["restored"]);
        Assert.True(restore.Exit == 0, restore.Err);
        Assert.Contains("shipped generation(s)", restore.Out, StringComparison.Ordinal);
        AssertRecoveryPoint(Path.Combine(dir["restored"], "store"), writers, killed);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_stop_point_inside_the_shipped_range_lands_exactly_on_that_commit()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        Assert.Equal(0, Cli("backup", "--server", server.Url, "--repo", repo).Exit);
        using var shipper = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "1s");
        var writers = new RestoreProgramTests.Writers(c, 2);
        await using (writers)
        {
            await Task.Delay(3000);
        }
        var target = writers.Points.Where(p => p.Key.W == 0).OrderBy(p => p.Key.I).ElementAt(writers.Points.Count(p => p.Key.W == 0) / 2);
        await Task.Delay(2500); // the tail ships within --max-lag
        Assert.Equal(130, (await shipper.TerminateAsync(TimeSpan.FromSeconds(10))).Exit);
        foreach (var stop in new[] { target.Value.Lsn, target.Value.Time.ToString("O", CultureInfo.InvariantCulture) })
        {
            var to = dir[$"restored-{Math.Abs(stop.GetHashCode()) % 1000}"];
            var restore = Cli("restore", "--repo", repo, "--set", "latest", "--to", to, "--stop-at", stop);
            Assert.True(restore.Exit == 0, restore.Err);
            var state = RestoreProgramTests.StateOf(Path.Combine(to, "store"), 2);
            Assert.Equal(target.Key.I, state[0]);
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task A_second_shipper_is_refused_naming_the_first_and_a_stopped_shipper_keeps_the_logs_on_the_server()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var noFull = Cli("ship", "--server", server.Url, "--repo", repo);
        Assert.Equal(2, noFull.Exit);
        Assert.Contains("no full backup", noFull.Err, StringComparison.Ordinal);
        Assert.Equal(0, Cli("backup", "--server", server.Url, "--repo", repo).Exit);
        using (var first = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "1s"))
        {
            await using (var writers = new RestoreProgramTests.Writers(c, 2))
            {
                await first.WaitShippingAsync(TimeSpan.FromSeconds(30));
                var second = Cli("ship", "--server", server.Url, "--repo", repo, "--claim-wait", "0");
                Assert.Equal(2, second.Exit);
                Assert.Contains("already being shipped by shipper", second.Err, StringComparison.Ordinal);
            }
            Assert.Equal(130, (await first.TerminateAsync(TimeSpan.FromSeconds(10))).Exit);
        }
        // No shipper now: what is written stays on the server, and status says so.
        await using (new RestoreProgramTests.Writers(c, 2))
        {
            await Task.Delay(1500);
        }
        var status = (await c.StatusAsync()).Instances.Single(i => i.Name == "store");
        Assert.NotNull(status.Shipping);
        Assert.False(status.Shipping!.ShipperConnected);
        Assert.True(status.Shipping.OldestUnshipped is not null && status.Shipping.OldestUnshipped <= status.Shipping.ShippedThrough + 1);
        // A backup truncates only what is shipped: the unshipped generations stay for the next shipper.
        Assert.Equal(0, Cli("repo", "init", dir["other"]).Exit);
        Assert.Equal(0, Cli("backup", "--server", server.Url, "--repo", dir["other"], "--type", "full").Exit);
        var after = (await c.StatusAsync()).Instances.Single(i => i.Name == "store");
        Assert.True(after.OldestGeneration <= status.Shipping.ShippedThrough + 1, $"the backup truncated generations the shipper has not shipped (oldest kept {after.OldestGeneration}, shipped through {status.Shipping.ShippedThrough})");
        using var again = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "1s");
        await again.WaitShippingAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(130, (await again.TerminateAsync(TimeSpan.FromSeconds(10))).Exit);
        var verify = Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
    }
}
