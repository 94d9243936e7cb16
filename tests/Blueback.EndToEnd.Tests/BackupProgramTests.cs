using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback backup</c>, <c>list</c>, <c>verify</c> and <c>repo gc</c> as an operator runs them.</summary>
[Trait(Tier.Category, Tier.Slow)]
public partial class BackupProgramTests
{
    internal static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => CliWith(new Dictionary<string, string?>(), args);

    /// <summary>The CLI with these environment variables set (null removes one), bounded like <see cref="Cli"/>.</summary>
    internal static (int Exit, string Out, string Err, TimeSpan Took) CliWith(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"blueback {string.Join(' ', args)} did not exit");
        }
        return (p.ExitCode, o.Result, e.Result, sw.Elapsed);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_backup_killed_between_its_commit_and_truncation_leaves_a_whole_set_and_the_next_backup_chains_on()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "logGenerationSize": 262144, "databases": [ { "name": "mailbox" }, { "name": "public" } ] } ], "backupLeaseSeconds": 5 }""");
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        var writers = new RestoreProgramTests.Writers(c, 2);
        long[] beforeInc;
        string killed;
        await using (writers)
        {
            await Task.Delay(300);
            var first = Cli("backup", "--server", server.Url, "--repo", repo);
            Assert.True(first.Exit == 0, $"exit {first.Exit}: {first.Err}");
            await Task.Delay(300);

            // Stopped exactly after the commit (the failpoint), then killed: the set is there, nothing truncated.
            var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--json"]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            psi.Environment[Blueback.Cli.Commands.BackupCommand.FailpointVariable] = "after-commit";
            using (var p = Process.Start(psi)!)
            {
                _ = p.StandardOutput.ReadToEndAsync();
                var until = DateTime.UtcNow.AddSeconds(60);
                string? line;
                while ((line = await p.StandardError.ReadLineAsync()) is not null && !line.Contains("failpoint after-commit", StringComparison.Ordinal))
                {
                    Assert.True(DateTime.UtcNow < until, "the failpoint was not reached");
                }
                Assert.NotNull(line);
                var oldest = (await c.StatusAsync()).Instances[0].OldestGeneration;
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
                await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(15)); // the lease (5 s: long enough for a program starved on a busy machine) aborts the session
                Assert.Equal(oldest, (await c.StatusAsync()).Instances[0].OldestGeneration); // nothing was truncated
            }
            var list = JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement;
            Assert.Equal(2, list.GetArrayLength());
            killed = list[1].GetProperty("id").GetString()!;
            var verifyKilled = Cli("verify", "--repo", repo, "--set", killed);
            Assert.True(verifyKilled.Exit == 0, verifyKilled.Out + verifyKilled.Err);

            // The next incremental chains onto the killed set (overlapping it: the server never recorded it).
            await Task.Delay(300);
            beforeInc = writers.Snapshot();
            var inc = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json");
            Assert.True(inc.Exit == 0, inc.Err);
            Assert.Equal(killed, JsonDocument.Parse(inc.Out).RootElement.GetProperty("parent").GetString());
        }
        var verify = Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out);
        var restore = Cli("restore", "--repo", repo, "--to", dir["restored"]);
        Assert.True(restore.Exit == 0, restore.Err);
        var state = RestoreProgramTests.StateOf(Path.Combine(dir["restored"], "store"), 2);
        Assert.True(state.Zip(beforeInc).All(x => x.First >= x.Second), $"restored [{string.Join(",", state)}], acknowledged before the incremental [{string.Join(",", beforeInc)}]");
    }

    [Fact(Timeout = 180_000)]
    public async Task The_backup_program_runs_at_nice_10_by_default_and_at_the_nice_it_is_given_19_in_the_idle_class()
    {
        Assert.True(OperatingSystem.IsLinux(), "thread nice values are read from /proc: this test runs on Linux");
        using var dir = new TempDir();
        var config = dir["server.json"];
        // A short lease: each program is killed at the failpoint, and its session must be gone before the next begins.
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "databases": [ { "name": "mailbox" } ] } ], "backupLeaseSeconds": 5 }""");
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        foreach (var (args, expected) in new[] { (Array.Empty<string>(), 10), (["--nice", "0"], 0), (["--nice", "19"], 19) })
        {
            // Held at the failpoint after its commit, so its threads can be read while it runs.
            var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--type", "copy", .. args]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            psi.Environment[Blueback.Cli.Commands.BackupCommand.FailpointVariable] = "after-commit";
            using var p = Process.Start(psi)!;
            try
            {
                _ = p.StandardOutput.ReadToEndAsync();
                string? line;
                var err = new System.Text.StringBuilder();
                while ((line = await p.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))) is not null && !line.Contains("failpoint after-commit", StringComparison.Ordinal))
                {
                    err.AppendLine(line);
                }
                Assert.True(line is not null, $"blueback backup {string.Join(' ', args)} ended before its failpoint: {err}");
                // Every thread at the nice asked for, but the runtime's signal thread: it keeps the nice it started with, this test's.
                int own = ThreadNice.Named(Environment.ProcessId).Min(t => t.Nice);
                // 19 also takes the idle class (a waking client thread always takes the core); the others stay normal.
                // Threads the runtime made in the last second are moved into it at the next (Niceness.IdleProcessFromNowOn).
                var expectedPolicy = expected == 19 ? ThreadNice.IdleClass : 0;
                ILookup<bool, (int Nice, int Policy)> threads;
                for (var waited = Stopwatch.StartNew(); ; await Task.Delay(200))
                {
                    threads = ThreadNice.Scheduling(p.Id).ToLookup(t => t.Name.StartsWith(ThreadNice.SignalThread, StringComparison.Ordinal), t => (t.Nice, t.Policy));
                    if (threads[false].All(t => t.Policy == expectedPolicy) || waited.Elapsed > TimeSpan.FromSeconds(5))
                    {
                        break;
                    }
                }
                var work = threads[false].ToList();
                var signal = threads[true].ToList();
                Assert.True(work.Count > 3 && work.All(t => t.Nice == expected && t.Policy == expectedPolicy), $"blueback backup {string.Join(' ', args)}: thread (nice, class) [{string.Join(",", work)}], expected all ({expected}, {expectedPolicy})");
                Assert.True(signal.SequenceEqual([(own, 0)]), $"blueback backup {string.Join(' ', args)}: signal thread (nice, class) [{string.Join(",", signal)}], expected one at ({own}, 0)");
            }
            finally
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(15)); // the lease aborts the session
        }
        var refused = Cli("backup", "--server", server.Url, "--repo", repo, "--nice", "20");
        Assert.NotEqual(0, refused.Exit);
        Assert.Contains("--nice", refused.Err, StringComparison.Ordinal);
    }

    [Fact(Timeout = 300_000)]
    public async Task Full_and_incremental_sets_are_committed_listed_and_verified_and_damage_is_named()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        var full = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json");
        Assert.True(full.Exit == 0, full.Err);
        var fullId = JsonDocument.Parse(full.Out).RootElement.GetProperty("set").GetString()!;
        await c.PutAsync("store", "mailbox", "t", "after"u8.ToArray(), new byte[5000]);
        var inc = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json");
        Assert.True(inc.Exit == 0, inc.Err);
        var list = Cli("list", "--repo", repo, "--json");
        var sets = JsonDocument.Parse(list.Out).RootElement;
        Assert.Equal(2, sets.GetArrayLength());
        Assert.Equal(fullId, sets[1].GetProperty("parent").GetString());
        var ok = Cli("verify", "--repo", repo);
        Assert.True(ok.Exit == 0, ok.Out + ok.Err);
        var verifiedList = JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement;
        Assert.True(verifiedList[0].GetProperty("verified").GetProperty("ok").GetBoolean());

        // A log whose bytes were damaged before they were chunked (so every chunk checksum holds) is still found:
        // verify reads each generation's records.
        var r = await Blueback.Repository.BackupRepository.OpenAsync(new Repository.Stores.LocalDirectoryStore(repo));
        var source = await r.ReadManifestAsync(fullId);
        var copy = r.BeginSet(Guid.NewGuid().ToString("N"), Repository.Compression.Codec.None);
        foreach (var f in source.Files)
        {
            using var ms = new MemoryStream();
            await Repository.SetVerifier.ExtractAsync(r, source, f, ms);
            var bytes0 = ms.ToArray();
            if (f.Path.StartsWith("logs/", StringComparison.Ordinal) && f == source.Files.Last(x => x.Path.StartsWith("logs/", StringComparison.Ordinal)))
            {
                bytes0[4096 + 8] ^= 0xFF; // inside the first record: whatever follows, the generation no longer verifies
            }
            await copy.AddFileAsync(f.Path, new MemoryStream(bytes0));
        }
        source.Type = "copy";
        source.ParentSetId = null;
        source.SetId = copy.SetId;
        source.Codec = copy.CodecName;
        source.Files = [.. copy.Files];
        await copy.CommitAsync(source);
        var logBad = Cli("verify", "--repo", repo, "--set", copy.SetId);
        Assert.Equal(1, logBad.Exit);
        Assert.Contains("log generation", logBad.Out, StringComparison.Ordinal);

        // A flipped byte in a chunk and a missing chunk are each named.
        // Format 2: the set's chunks, as its manifest names them, in the repository's shared chunks/.
        var chunks = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(repo, "sets", fullId, "manifest.json"))).RootElement.GetProperty("manifest").GetProperty("files")
            .EnumerateArray().SelectMany(f => f.GetProperty("chunks").EnumerateArray()).Select(c => Path.Combine(repo, c.GetProperty("key").GetString()!)).Distinct().ToList();
        var bytes = await File.ReadAllBytesAsync(chunks[0]);
        bytes[bytes.Length / 2] ^= 0x40;
        await File.WriteAllBytesAsync(chunks[0], bytes);
        File.Delete(chunks[^1]);
        var bad = Cli("verify", "--repo", repo);
        Assert.Equal(1, bad.Exit);
        Assert.Contains(Path.GetFileName(chunks[0]), bad.Out, StringComparison.Ordinal);
        Assert.Contains("missing", bad.Out, StringComparison.Ordinal);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_backup_killed_or_interrupted_leaves_no_set_and_the_next_one_succeeds()
    {
        using var dir = new TempDir();
        // A short lease: a program killed after its last stream was sent is noticed by the lease, not the socket.
        var config = dir["c.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ] } ], "backupLeaseSeconds": 3 }""");
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        var rng = new Random(4);
        var exits = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--type", "full", "--no-compress"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var p = Process.Start(psi)!;
            _ = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            // Signal while the backup runs: wait until the server reports it (bounded), then a random moment more.
            var started = Stopwatch.StartNew();
            while (!(await c.StatusAsync()).Instances.Any(x => x.BackupInProgress) && !p.HasExited && started.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(5);
            }
            await Task.Delay(rng.Next(0, 250));
            var sw = Stopwatch.StartNew();
            bool interrupt = i % 2 == 1;
            if (interrupt)
            {
                // SIGTERM takes the same path as Ctrl+C (Signals). SIGINT itself is not used here: a test run started
                // from a background shell (as CI may be) passes SIGINT on as ignored, and .NET keeps it ignored.
                _ = Kill(p.Id, 15);
            }
            else
            {
                p.Kill(entireProcessTree: true);
            }
            Assert.True(p.WaitForExit(10_000));
            if (interrupt && p.ExitCode != 0)
            {
                Assert.True(p.ExitCode == 130, $"interrupted backup exited {p.ExitCode}");
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"interrupted backup took {sw.Elapsed.TotalMilliseconds:0} ms to exit");
            }
            exits.Add($"{(interrupt ? "SIGTERM" : "SIGKILL")}:{p.ExitCode}");
            var listed = JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement.GetArrayLength();
            // Every finished backup committed its set. An interrupted one left none, unless the signal came after
            // its manifest was committed: then its set is whole (only truncation and the end were skipped). So
            // every listed set must verify: none is partial.
            Assert.True(listed >= exits.Count(e => e.EndsWith(":0", StringComparison.Ordinal)), $"{listed} sets listed after {string.Join(", ", exits)}");
            var verify = Cli("verify", "--repo", repo);
            Assert.True(verify.Exit == 0, $"after {string.Join(", ", exits)}: {verify.Out}");
            await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(5));
        }
        Assert.True(exits.Contains("SIGTERM:130"), $"no interrupt landed mid-backup: {string.Join(", ", exits)}");
        // A killed backup's leftovers are younger than gc's default grace (RepositoryTests covers that rule); with no
        // grace gc removes every one.
        Assert.Equal(0, Cli("repo", "gc", "--repo", repo, "--grace", "0").Exit);
        // (No sets folder at all when every backup was stopped before its commit and gc took every leftover.)
        var sets = Path.Combine(repo, "sets");
        Assert.All(Directory.Exists(sets) ? Directory.GetDirectories(sets) : [], d => Assert.True(File.Exists(Path.Combine(d, "manifest.json")), $"{d} has no manifest after gc"));
        var next = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full");
        Assert.True(next.Exit == 0, next.Err);
        Assert.Equal(0, Cli("verify", "--repo", repo).Exit);
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
