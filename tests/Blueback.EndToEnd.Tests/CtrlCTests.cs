using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary>Ctrl+C the way a terminal sends it (the Q185694 seed): the backup program runs in a pseudo-terminal and
/// ^C goes through the terminal's line discipline as SIGINT to its foreground process group, at many moments of a
/// backup. Every time it exits 130 (or 0, had it just finished) within 2 s, the server's session is gone, and no
/// partial set is left.</summary>
public class CtrlCTests
{
    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public Task Ctrl_C_at_12_moments_of_a_backup_exits_130_within_2_s_and_leaves_nothing() => RunAsync(12, 0.4, 1.8);

    /// <summary>The program's first second, densely: start-up, the repository opened, the session begun, the first
    /// image's first chunks (where a cancel once turned into a failure, exit 2, under writers), with two writers
    /// committing throughout as when it was found.</summary>
    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public Task Ctrl_C_in_the_first_second_of_a_backup_under_writers_exits_130_within_2_s_and_leaves_nothing() => RunAsync(12, 0.05, 1.0, seed: 11, writers: 2);

    [Fact(Timeout = 1_800_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public Task Ctrl_C_at_50_moments_of_a_backup_exits_130_within_2_s_and_leaves_nothing() => RunAsync(50, 0.4, 1.8);

    [Fact(Timeout = 1_800_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public Task Ctrl_C_at_60_moments_of_the_first_second_under_writers_exits_130_within_2_s_and_leaves_nothing() => RunAsync(60, 0.05, 1.0, seed: 17, writers: 2);

    /// <param name="from">Earliest ^C, seconds after the program's start.</param>
    /// <param name="to">Latest ^C: past the backup's end for the whole-backup runs.</param>
    /// <param name="writers">Writers committing through the server during every moment (0: none).</param>
    private static async Task RunAsync(int moments, double from, double to, int seed = 5, int writers = 0)
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c, distinct: true); // incompressible: the program's compression does not shorten the backup
        // Slowed so that a backup lasts over a second and the moments spread over all of it (a full backup now starts at
        // a fresh checkpoint, so its logs are few: about 1.4 s at this rate, hence moments up to 1.8 s).
        // Moments alternate between the server's uncompressed chunk frames and raw pages the program compresses (the
        // default for a server on this host).
        string[] Backup(int moment) => ["dotnet", ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--max-rate", "12M", .. moment % 2 == 0 ? new[] { "--no-compress" } : ["--compress", "client"]];
        var rng = new Random(seed);
        await using var load = writers > 0 ? new RestoreProgramTests.Writers(c, writers) : null;
        var times = new List<double>();
        var outcomes = new List<string>();
        for (int i = 0; i < moments; i++)
        {
            double delay = from + rng.NextDouble() * (to - from);
            var run = await PtySignal.RunAsync("INT", delay, Backup(i));
            outcomes.Add($"{run.Outcome}:{run.Exit}");
            Assert.True(run.Outcome != "hung", $"moment {i} ({delay:0.000} s): {run}");
            if (run.Outcome == "interrupted")
            {
                // -2: SIGINT's own default, when ^C lands before the runtime has installed the program's handler
                // (the first tenth of a second of a cold start): nothing has begun, and a shell reports it as 130.
                Assert.True(run.Exit is 130 or 0 or -2, $"moment {i} ({delay:0.000} s): {run}");
                Assert.True(run.Ms < 2000, $"moment {i}: exited {run.Ms:0} ms after ^C");
                times.Add(run.Ms);
            }
            await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(5));
        }
        // No partial set: a ^C before the commit leaves none, one after it (during truncation or the end) leaves
        // a whole set; either way every listed set verifies.
        Assert.Equal(0, BackupProgramTests.Cli("verify", "--repo", repo).Exit);
        var sets = JsonDocument.Parse(BackupProgramTests.Cli("list", "--repo", repo, "--json").Out).RootElement.GetArrayLength();
        Assert.True(sets <= moments, $"{sets} sets listed after {moments} backups");
        Assert.Equal(0, BackupProgramTests.Cli("repo", "gc", "--repo", repo, "--grace", "0").Exit);
        // No "sets" folder at all when no backup got as far as its first chunk (every ^C of the first second).
        Assert.All(Directory.Exists(Path.Combine(repo, "sets")) ? Directory.GetDirectories(Path.Combine(repo, "sets")) : [], d => Assert.True(File.Exists(Path.Combine(d, "manifest.json")), $"{d}: a partial set after gc"));
        Assert.True(times.Count >= moments / 2, $"only {times.Count} of {moments} moments landed during a backup: {string.Join(", ", outcomes)}");
        times.Sort();
        Console.WriteLine($"Ctrl+C at {moments} moments: {times.Count} interrupted; exit after ^C p50 {times[times.Count / 2]:0} ms, p99 {times[Math.Min(times.Count - 1, (int)(times.Count * 0.99))]:0} ms, max {times[^1]:0} ms ({string.Join(", ", outcomes)})");
    }
}
