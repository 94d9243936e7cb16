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
    internal const string PtyHelper = """
        import os, pty, sys, time, select, signal
        delay = float(sys.argv[1]); argv = sys.argv[2:]
        # ^C's default in the child from the fork on (Python's handler there would swallow an early ^C), and the clock
        # started once the child owns the terminal (a ^C written before that is dropped: no foreground process yet).
        old = signal.signal(signal.SIGINT, signal.SIG_DFL)
        pid, fd = pty.fork()
        if pid == 0:
            os.execvp(argv[0], argv)
        signal.signal(signal.SIGINT, old)
        owned = time.monotonic() + 10
        while time.monotonic() < owned:
            try:
                if os.tcgetpgrp(fd) == pid:
                    break
            except OSError:
                pass
            time.sleep(0.0005)
        end = time.monotonic() + delay
        open_ = True
        def drain(until):
            global open_
            while time.monotonic() < until:
                if open_:
                    r, _, _ = select.select([fd], [], [], 0.02)
                    if r:
                        try:
                            os.read(fd, 65536)
                        except OSError:
                            open_ = False  # the terminal's other side closed: the program is exiting
                else:
                    time.sleep(0.005)
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return status
            return None
        status = drain(end)
        if status is not None:
            print("finished-before", os.waitstatus_to_exitcode(status), 0); sys.exit(0)
        t0 = time.monotonic()
        os.write(fd, b"\x03")
        status = drain(t0 + 10)
        ms = (time.monotonic() - t0) * 1000
        if status is None:
            os.kill(pid, 9); os.waitpid(pid, 0)
            print("hung", -1, round(ms)); sys.exit(0)
        print("interrupted", os.waitstatus_to_exitcode(status), round(ms))
        """;

    [Fact(Timeout = 600_000)]
    public Task Ctrl_C_at_12_moments_of_a_backup_exits_130_within_2_s_and_leaves_nothing() => RunAsync(12, 0.4, 1.8);

    /// <summary>The program's first second, densely: start-up, the repository opened, the session begun, the first
    /// image's first chunks (where a cancel once turned into a failure, exit 2, under writers), with two writers
    /// committing throughout as when it was found.</summary>
    [Fact(Timeout = 600_000)]
    public Task Ctrl_C_in_the_first_second_of_a_backup_under_writers_exits_130_within_2_s_and_leaves_nothing() => RunAsync(12, 0.05, 1.0, seed: 11, writers: 2);

    [Fact(Timeout = 1_800_000)]
    [Trait("Category", "Stress")]
    public Task Ctrl_C_at_50_moments_of_a_backup_exits_130_within_2_s_and_leaves_nothing() => RunAsync(50, 0.4, 1.8);

    [Fact(Timeout = 1_800_000)]
    [Trait("Category", "Stress")]
    public Task Ctrl_C_at_60_moments_of_the_first_second_under_writers_exits_130_within_2_s_and_leaves_nothing() => RunAsync(60, 0.05, 1.0, seed: 17, writers: 2);

    /// <param name="from">Earliest ^C, seconds after the program's start.</param>
    /// <param name="to">Latest ^C: past the backup's end for the whole-backup runs.</param>
    /// <param name="writers">Writers committing through the server during every moment (0: none).</param>
    private static async Task RunAsync(int moments, double from, double to, int seed = 5, int writers = 0)
    {
        using var dir = new TempDir();
        var helper = dir["ctrl_c_in_a_terminal.py"]; // not pty.py: it would import itself
        await File.WriteAllTextAsync(helper, PtyHelper);
        var repo = dir["repo"];
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        // Slowed so that a backup lasts over a second and the moments spread over all of it (a full backup now starts at
        // a fresh checkpoint, so its logs are few: about 1.4 s at this rate, hence moments up to 1.8 s).
        string[] backup = ["dotnet", ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--no-compress", "--max-rate", "12M"];
        var rng = new Random(seed);
        await using var load = writers > 0 ? new RestoreProgramTests.Writers(c, writers) : null;
        var times = new List<double>();
        var outcomes = new List<string>();
        for (int i = 0; i < moments; i++)
        {
            double delay = from + rng.NextDouble() * (to - from);
            var psi = new ProcessStartInfo("python3", [helper, delay.ToString("0.000", CultureInfo.InvariantCulture), .. backup]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var errors = p.StandardError.ReadToEndAsync();
            var line = (await p.StandardOutput.ReadToEndAsync()).Trim() + (await errors).Trim();
            Assert.True(p.WaitForExit(30_000), "the pty helper hung");
            var parts = line.Split(' ');
            Assert.True(parts.Length == 3, $"pty helper said '{line}'");
            int code = int.Parse(parts[1], CultureInfo.InvariantCulture);
            double ms = double.Parse(parts[2], CultureInfo.InvariantCulture);
            outcomes.Add($"{parts[0]}:{code}");
            Assert.NotEqual("hung", parts[0]);
            if (parts[0] == "interrupted")
            {
                // -2: SIGINT's own default, when ^C lands before the runtime has installed the program's handler
                // (the first tenth of a second of a cold start): nothing has begun, and a shell reports it as 130.
                Assert.True(code is 130 or 0 or -2, $"moment {i} ({delay:0.000} s): exit {code}: {line}");
                Assert.True(ms < 2000, $"moment {i}: exited {ms:0} ms after ^C");
                times.Add(ms);
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
