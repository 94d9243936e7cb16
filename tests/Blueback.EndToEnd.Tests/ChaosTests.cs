using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Chaos, for a fixed number of seeded rounds: writers commit all along while backups of every type run,
/// are cancelled or killed, the server is killed or stopped and restarted, and sets are restored. Afterwards every
/// acknowledged commit is in the live instance, every listed set verifies, and every set restores to a committed
/// state at or after the moment it began.</summary>
[Collection("restore")]
public partial class ChaosTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public Task A_short_chaos_run_loses_nothing_acknowledged_and_leaves_every_set_restorable() => RunAsync(rounds: 8, seed: 3);

    [Fact(Timeout = 1_800_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public Task A_long_chaos_run_loses_nothing_acknowledged_and_leaves_every_set_restorable() => RunAsync(rounds: 40, seed: 11);

    /// <summary>Writers that survive server restarts: writer w's transaction i sets its counter, a marker and one of
    /// seven keys to i (both databases); a failed attempt is retried with the same i, so an unknown outcome is
    /// harmless. Only answered commits count as acknowledged.</summary>
    private sealed class Writers
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _tasks;
        private volatile BluebackClient _client;
        public long[] Acked { get; }
        public long Failures;

        public Writers(BluebackClient client, int count)
        {
            _client = client;
            Acked = new long[count];
            _tasks = Enumerable.Range(0, count).Select(w => Task.Run(async () =>
            {
                long i = 1;
                while (!_stop.IsCancellationRequested)
                {
                    var v = i.ToString(CultureInfo.InvariantCulture);
                    try
                    {
                        await _client.BatchAsync("store", new BatchRequest
                        {
                            Ops =
                            [
                                new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"w{w}-n", Value = v },
                                new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"w{w}-m{i:D6}", Value = new string('x', 100 + (int)(i % 500)) },
                                new BatchOp { Op = "put", Database = "public", Table = "t", Key = $"w{w}-k{i % 7}", Value = v },
                            ],
                        }, _stop.Token);
                        Volatile.Write(ref Acked[w], i);
                        i++;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or BluebackApiException or TaskCanceledException or IOException)
                    {
                        Interlocked.Increment(ref Failures);
                        await Task.Delay(50); // the server is restarting, or answered 503: try the same i again
                    }
                }
            })).ToList();
        }

        public void Use(BluebackClient client) => _client = client;

        public long[] Snapshot() => Acked.Select(a => Volatile.Read(ref a)).ToArray();

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_tasks);
        }
    }

    private static async Task RunAsync(int rounds, int seed)
    {
        using var dir = new TempDir();
        var data = dir["data"];
        var repo = dir["repo"];
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "logGenerationSize": 262144, "databases": [ { "name": "mailbox" }, { "name": "public" } ] } ], "backupLeaseSeconds": 3 }""");
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        var server = await ServerProcess.StartAsync(data, false, "--config", config);
        var client = new BluebackClient(server.Url, TimeSpan.FromSeconds(10));
        var writers = new Writers(client, 3);
        var rng = new Random(seed);
        var ackedBefore = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var log = new List<string>();
        int restoresChecked = 0;
        try
        {
            await Task.Delay(500);
            Backup("full");
            for (int round = 0; round < rounds; round++)
            {
                int action = rng.Next(7);
                switch (action)
                {
                    case 0:
                    case 1:
                        Backup(new[] { "full", "incremental", "differential", "copy", "incremental" }[rng.Next(5)]);
                        break;
                    case 2:
                    case 3:
                        await InterruptedBackupAsync(action == 2 ? 15 : 9);
                        break;
                    case 4:
                        await RestartServerAsync(kill: true);
                        break;
                    case 5:
                        await RestartServerAsync(kill: false);
                        break;
                    default:
                        RestoreOne();
                        log.Add("restore ok");
                        break;
                }
                await Task.Delay(rng.Next(100, 600));
            }
            await writers.StopAsync();
            var acked = writers.Snapshot();
            await server.TerminateAsync(TimeSpan.FromSeconds(15));

            // Every acknowledged commit is in the live instance (and it is a committed state).
            var live = RestoreProgramTests.StateOf(Path.Combine(data, "store"), 3);
            for (int w = 0; w < 3; w++)
            {
                Assert.True(live[w] >= acked[w], $"writer {w}: {acked[w]} acknowledged, {live[w]} in the instance after: {string.Join(", ", log)}");
            }
            // Every listed set verifies and restores.
            var verify = Cli("verify", "--repo", repo);
            Assert.True(verify.Exit == 0, verify.Out);
            foreach (var id in Listed())
            {
                RestoreOne(id);
            }
            Assert.True(writers.Snapshot().Sum() > 0, "the writers committed nothing");
            Console.WriteLine($"chaos seed {seed}: {rounds} rounds ({string.Join(", ", log)}), {restoresChecked} restores checked, {writers.Snapshot().Sum()} commits acknowledged, {writers.Failures} attempts failed and retried");
        }
        finally
        {
            await writers.StopAsync();
            client.Dispose();
            server.Dispose();
        }

        List<string> Listed() =>
            JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement.EnumerateArray().Select(s => s.GetProperty("id").GetString()!).ToList();

        void Backup(string type)
        {
            var before = writers.Snapshot();
            var b = Cli("backup", "--server", server.Url, "--repo", repo, "--type", type, "--json");
            if (b.Exit == 0)
            {
                ackedBefore[JsonDocument.Parse(b.Out).RootElement.GetProperty("set").GetString()!] = before;
                log.Add($"{type} ok");
            }
            else
            {
                // Refused with a reason (an incremental right after a restart of the chain, say), never half-written.
                Assert.Equal(2, b.Exit);
                log.Add($"{type} refused");
            }
        }

        async Task InterruptedBackupAsync(int signal)
        {
            var before = writers.Snapshot();
            var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            await Task.Delay(rng.Next(150, 900)); // the program starts in about 150 ms; a backup here takes a few hundred
            _ = Kill(p.Id, signal);
            Assert.True(p.WaitForExit(10_000), "the backup program hung after a signal");
            if (p.ExitCode == 0)
            {
                ackedBefore[JsonDocument.Parse(await output).RootElement.GetProperty("set").GetString()!] = before;
            }
            log.Add($"backup {(signal == 15 ? "SIGTERM" : "SIGKILL")}: {p.ExitCode}");
        }

        async Task RestartServerAsync(bool kill)
        {
            if (kill)
            {
                server.Kill();
            }
            else
            {
                await server.TerminateAsync(TimeSpan.FromSeconds(15));
            }
            server.Dispose();
            server = await ServerProcess.StartAsync(data, false, "--config", config);
            var next = new BluebackClient(server.Url, TimeSpan.FromSeconds(10));
            writers.Use(next);
            client.Dispose();
            client = next;
            log.Add(kill ? "server SIGKILL" : "server stop");
        }

        void RestoreOne(string? id = null)
        {
            var sets = Listed();
            if (sets.Count == 0)
            {
                return;
            }
            id ??= sets[rng.Next(sets.Count)];
            var target = dir[$"restored-{restoresChecked}"];
            var r = Cli("restore", "--repo", repo, "--set", id, "--to", target);
            Assert.True(r.Exit == 0, $"restore of {id}: {r.Err}");
            var state = RestoreProgramTests.StateOf(Path.Combine(target, "store"), 3);
            if (ackedBefore.TryGetValue(id, out var before))
            {
                for (int w = 0; w < 3; w++)
                {
                    Assert.True(state[w] >= before[w], $"set {id}: writer {w} restored to {state[w]}, but {before[w]} was acknowledged before it began");
                }
            }
            Directory.Delete(target, recursive: true);
            restoresChecked++;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
