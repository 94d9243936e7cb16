using System.Globalization;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Continuous log shipping (docs/shipping.md) against real server and shipper processes: the recovery
/// point after the server and its whole data directory are lost, on a directory and on S3 with the shipper killed
/// and restarted, one shipper per instance, and the faults: a repository gone for a while, a full one, a damaged
/// shipped generation.</summary>
public partial class ShippingTests
{
    private static readonly TimeSpan MaxLag = TimeSpan.FromSeconds(2);

    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    /// <summary>A new repository holding a full set of a new server's instance: where shipping starts from.</summary>
    internal static async Task<ServerProcess> ServerWithFullSetAsync(string repo, string dataDirectory, params string[] repoArgs)
    {
        Assert.Equal(0, Cli(["repo", "init", repo, .. repoArgs]).Exit);
        var server = await ServerProcess.StartAsync(dataDirectory);
        var full = Cli(["backup", "--server", server.Url, "--repo", repo, .. repoArgs]);
        Assert.True(full.Exit == 0, full.Err);
        return server;
    }

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
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_server_and_its_data_directory_lost_under_load_lose_no_commit_older_than_max_lag()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ServerWithFullSetAsync(repo, dir["data"]);
        using var c = new BluebackClient(server.Url);
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
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_stop_point_inside_the_shipped_range_lands_exactly_on_that_commit()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ServerWithFullSetAsync(repo, dir["data"]);
        using var c = new BluebackClient(server.Url);
        using var shipper = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "1s");
        var writers = new RestoreProgramTests.Writers(c, 2);
        await using (writers)
        {
            await Task.Delay(3000);
        }
        var target = writers.Points.Where(p => p.Key.W == 0).OrderBy(p => p.Key.I).ElementAt(writers.Points.Count(p => p.Key.W == 0) / 2);
        await Task.Delay(2500); // the tail ships within --max-lag
        await shipper.AssertStopsAsync(TimeSpan.FromSeconds(10));
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
    [Trait(Tier.Category, Tier.Slow)]
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
            await first.AssertStopsAsync(TimeSpan.FromSeconds(10));
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
        await again.AssertStopsAsync(TimeSpan.FromSeconds(10));
        var verify = Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
    }

    private const string ShortLeaseConfig = """{ "instances": [ { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ] } ], "shipperLeaseSeconds": 3 }""";

    [Fact(Timeout = 400_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public async Task On_s3_a_shipper_killed_and_restarted_mid_load_resumes_with_no_gap_and_the_recovery_point_holds()
    {
        using var dir = new TempDir();
        using var moto = await MotoServer.StartAsync();
        string[] s3 = ["--s3-endpoint", moto.Endpoint];
        var repo = $"s3://{MotoServer.Bucket}/ship";
        Assert.Equal(0, Cli(["repo", "init", repo, .. s3]).Exit);
        await File.WriteAllTextAsync(dir["c.json"], ShortLeaseConfig);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", dir["c.json"]);
        using var c = new BluebackClient(server.Url);
        var full = Cli(["backup", "--server", server.Url, "--repo", repo, .. s3]);
        Assert.True(full.Exit == 0, full.Err);
        var first = ShipperProcess.Start(["--server", server.Url, "--repo", repo, "--max-lag", "2s", .. s3]);
        ShipperProcess second;
        var writers = new TimedWriters(c, 16);
        DateTime killed;
        await using (writers)
        {
            await first.WaitShippingAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(1500);
            first.Kill(); // SIGKILL, perhaps mid-upload: a torn generation has no manifest
            first.Dispose();
            await Task.Delay(500);
            second = ShipperProcess.Start(["--server", server.Url, "--repo", repo, "--max-lag", "2s", .. s3]);
            await Task.Delay(TimeSpan.FromSeconds(9)); // the killed shipper's lease ends (3 s), then the new one catches up
            killed = DateTime.UtcNow;
            server.Kill();
        }
        using (second)
        {
            await second.AssertStopsAsync(TimeSpan.FromSeconds(10));
            // It waited for the killed shipper's lease if it came up before the lease ended (timing: not asserted).
            Assert.True(second.Out.Contains("shipped generation", StringComparison.Ordinal), $"the second shipper shipped nothing: {second.Out}\n{second.Err}");
        }
        Directory.Delete(dir["data"], recursive: true);
        var verify = Cli(["verify", "--repo", repo, .. s3]);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        var restore = Cli(["restore", "--repo", repo, "--set", "latest", "--to", dir["restored"], .. s3]);
        Assert.True(restore.Exit == 0, restore.Err);
        AssertRecoveryPoint(Path.Combine(dir["restored"], "store"), writers, killed);
    }

    /// <summary>Swaps two paths atomically (Linux renameat2 with RENAME_EXCHANGE).</summary>
    private static void Exchange(string a, string b) =>
        Assert.True(RenameAt2(-100 /* AT_FDCWD */, a, -100, b, 2 /* RENAME_EXCHANGE */) == 0, $"renameat2 {a} {b}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int RenameAt2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_repository_gone_for_a_while_holds_shipping_up_the_server_keeps_the_logs_and_nothing_is_lost()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ServerWithFullSetAsync(repo, dir["data"]);
        using var c = new BluebackClient(server.Url);
        using var shipper = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "2s");
        var writers = new TimedWriters(c, 4);
        DateTime killed;
        await using (writers)
        {
            await shipper.WaitShippingAsync(TimeSpan.FromSeconds(30));
            // The repository's volume goes away: a file where its directory was, so nothing can be written there. Swapped
            // in one step (renameat2 RENAME_EXCHANGE), both ways: a shipper retrying in between a move and a write could
            // otherwise make a new, empty directory there (it did once, and the test's move back then failed).
            await File.WriteAllTextAsync(repo + ".away", "not a directory");
            Exchange(repo, repo + ".away");
            await Task.Delay(4000);
            var status = (await c.StatusAsync()).Instances.Single(i => i.Name == "store").Shipping!;
            Assert.True(status.UnshippedGenerations > 0, "no generation waited while the repository was away");
            Assert.True(status.LagSeconds > 2, $"lag {status.LagSeconds} s while the repository was away");
            Assert.Contains("retrying", shipper.Err, StringComparison.Ordinal);
            Assert.False(shipper.HasExited);
            Exchange(repo, repo + ".away");
            await Task.Delay(5000); // the backlog ships
            killed = DateTime.UtcNow;
            server.Kill();
        }
        Assert.Contains("shipping again", shipper.Err, StringComparison.Ordinal);
        await shipper.AssertStopsAsync(TimeSpan.FromSeconds(10));
        var restore = Cli("restore", "--repo", repo, "--set", "latest", "--to", dir["restored"]);
        Assert.True(restore.Exit == 0, restore.Err);
        AssertRecoveryPoint(Path.Combine(dir["restored"], "store"), writers, killed);

        // A damaged shipped generation: verify names it, and so does a restore that needs it.
        var gens = Directory.GetDirectories(Path.Combine(repo, "shipped", "store"), "*", SearchOption.AllDirectories)
            .Where(d => File.Exists(Path.Combine(d, "manifest.json"))).Order(StringComparer.Ordinal).ToList();
        Assert.True(gens.Count >= 3, $"only {gens.Count} shipped generations");
        var victim = gens[gens.Count / 2];
        // Its chunk (format 2: in the repository's shared chunks/, named by the generation's manifest).
        var key = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(victim, "manifest.json"))).RootElement
            .GetProperty("manifest").GetProperty("files")[0].GetProperty("chunks")[0].GetProperty("key").GetString()!;
        var chunk = Path.Combine(repo, key);
        var bytes = await File.ReadAllBytesAsync(chunk);
        bytes[bytes.Length / 2] ^= 0x5A;
        await File.WriteAllBytesAsync(chunk, bytes);
        var name = Path.GetFileName(victim);
        var verify = Cli("verify", "--repo", repo);
        Assert.Equal(1, verify.Exit);
        Assert.Contains($"/{name}", verify.Out, StringComparison.Ordinal);
        var broken = Cli("restore", "--repo", repo, "--set", "latest", "--to", dir["restored2"]);
        Assert.Equal(2, broken.Exit);
        Assert.Contains($"/{name}", broken.Err, StringComparison.Ordinal);
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public async Task A_full_repository_disk_is_reported_the_logs_are_kept_and_shipping_resumes_once_there_is_room()
    {
        using var dir = new TempDir();
        var repo = dir["small"];
        Directory.CreateDirectory(repo);
        NetworkNamespace.Run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", repo);
        try
        {
            using var server = await ServerWithFullSetAsync(repo, dir["data"]);
            using var c = new BluebackClient(server.Url);
            var filler = Path.Combine(repo, "filler");
            await using (var f = File.Create(filler))
            {
                var block = new byte[1 << 16];
                try
                {
                    while (true)
                    {
                        f.Write(block);
                        f.Flush();
                    }
                }
                catch (IOException)
                {
                    // full
                }
            }
            using var shipper = ShipperProcess.Start("--server", server.Url, "--repo", repo, "--max-lag", "2s");
            var writers = new TimedWriters(c, 2);
            DateTime killed;
            await using (writers)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                while (!shipper.Err.Contains("repository is full", StringComparison.Ordinal))
                {
                    Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"no 'repository is full' from the shipper:\n{shipper.Err}");
                    Assert.False(shipper.HasExited, shipper.Err);
                    await Task.Delay(200);
                }
                var status = (await c.StatusAsync()).Instances.Single(i => i.Name == "store").Shipping!;
                Assert.True(status.ShipperConnected);
                File.Delete(filler);
                await Task.Delay(5000);
                killed = DateTime.UtcNow;
                server.Kill();
            }
            await shipper.AssertStopsAsync(TimeSpan.FromSeconds(10));
            var restore = Cli("restore", "--repo", repo, "--set", "latest", "--to", dir["restored"]);
            Assert.True(restore.Exit == 0, restore.Err);
            AssertRecoveryPoint(Path.Combine(dir["restored"], "store"), writers, killed);
        }
        finally
        {
            NetworkNamespace.Run("umount", "-l", repo);
        }
    }
}
