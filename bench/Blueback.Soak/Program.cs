// The soak: a seeded, bounded run against a real server under writes. Rounds, chosen by the seed: backups of every
// type (with and without --changed-pages) stopped at random by ^C, SIGTERM or SIGKILL or left to finish; offline
// restores of known sets, checked against the writers' record (each writer's keys a prefix, every commit acknowledged
// before the backup began present), some stopped by ^C; online restores through the server as a new instance, read
// back through the data API; SIGKILL and SIGTERM of the server, its data then checked offline (every acknowledged
// commit present) before it starts again; fuzz requests (no 5xx, the server stays up); verify of every set; bursts of
// short commands (copy backups, verify, restores, list) stopped by ^C or SIGTERM in their first 1.5 s, and of programs
// killed in their first 2 s; the log shipper stopped by ^C, SIGTERM or SIGKILL; backups into a full 16 MiB volume (as
// root). Prints the counts, the violations and the exit times after each signal; exit 1 on any violation.
//
// Usage: dotnet run -c Release --project bench/Blueback.Soak -- [--minutes M | --hours H] [--seed S] [--dir DIR] [--writers N]
//        [--write-rate COMMITS-PER-SECOND-PER-WRITER] [--lanes N] [--only ROUND,...: those rounds in turn, no random ones]
//        [--focus ROUND,...]  (backup, restore, online-restore, prove, server, fuzz, burst, kill-burst, ship, full-volume, verify,
//        library-cancels: 20 cancels through the client library; io-fault: the server restarted with an injected I/O
//        fault; these two are rounds only when focused)
//        or --stop-times N [-- BACKUP-OPTIONS]: the exit times of N copy backups stopped by ^C past their start-up
//        or --stop-floor N: the least time any .NET program takes to exit after ^C here (StopFloor), the ceiling
//        BLUEBACK_SOAK_CLI=DIR/blueback.dll runs that program instead of the build's (an installed, published one)
//        ^C or SIGTERM: the run ends after the round in progress, with its report
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Blueback.Client;
using Blueback.Soak;

var ci = CultureInfo.InvariantCulture;
if (args is ["--floor-child", var floorMode, var floorBurn])
{
    return StopFloor.Child(floorMode, int.Parse(floorBurn, ci));
}
if (args.Length >= 2 && args[0] == "--stop-floor")
{
    return StopFloor.Run(int.Parse(args[1], ci));
}
string Arg(string name, string fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
var duration = args.Contains("--hours") ? TimeSpan.FromHours(double.Parse(Arg("--hours", "1"), ci)) : TimeSpan.FromMinutes(double.Parse(Arg("--minutes", "10"), ci));
int seed = int.Parse(Arg("--seed", "1"), ci);
var root = Path.GetFullPath(Arg("--dir", Path.Combine(Path.GetTempPath(), $"bb-soak-{seed}")));
SmallVolume.Unmount(Path.Combine(root, "small")); // left mounted by a run that was killed
if (Directory.Exists(root))
{
    Directory.Delete(root, recursive: true);
}
Directory.CreateDirectory(root);
var token = $"bbt_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}_{Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_')}";
var tokenFile = Path.Combine(root, "admin.token");
File.WriteAllText(tokenFile, token);
if (!OperatingSystem.IsWindows())
{
    File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
}
Environment.SetEnvironmentVariable(BluebackClient.TokenVariable, token);

var data = Path.Combine(root, "data");
var repo = Path.Combine(root, "repo");
var rng = new Random(seed);
var tally = new Tally();
Console.WriteLine($"# soak: seed {seed}, {duration.TotalMinutes:0} min, {root}, started {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
using var server = new SoakServer(data, tokenFile, 20000 + (seed % 20000));
server.Start();
Capture("repo", "init", repo);
// --write-rate R: each writer commits at most R times a second (0: as fast as acknowledged), keeping the instance
// small enough for many restores to be checked.
var writers = new Writers(server.Url, int.Parse(Arg("--writers", "4"), ci), double.Parse(Arg("--write-rate", "0"), ci));
writers.Start();
if (args.Contains("--stop-times"))
{
    // Not a soak: the exit times of stopped backups alone (StopTimes). Arguments after "--" go to each backup.
    int code = StopTimes.Run(server, repo, int.Parse(Arg("--stop-times", "40"), ci), rng, [.. args.SkipWhile(a => a != "--").Skip(1)]);
    await writers.StopAsync();
    return code;
}
// --lanes N: the bursts and restore rounds run N commands at once (to reach the counts sooner on more cores).
var rounds = new Rounds(server, writers, repo, root, rng, tally, int.Parse(Arg("--lanes", "1"), ci));
var small = SmallVolume.Mount(Path.Combine(root, "small"));
Console.WriteLine(small is null ? "# no 16 MiB volume (not root, or mount failed): full-volume rounds skipped" : $"# a 16 MiB tmpfs at {small} for the full-volume rounds");
// --focus R1,R2,...: every other round is one of these in turn (to repeat a finding, or to count one kind faster).
var roundPicks = new Dictionary<string, int>(StringComparer.Ordinal)
{
    ["backup"] = 0, ["restore"] = 35, ["online-restore"] = 40, ["prove"] = 43, ["server"] = 46, ["fuzz"] = 53,
    ["burst"] = 63, ["kill-burst"] = 73, ["ship"] = 78, ["full-volume"] = 84, ["verify"] = 87, ["library-cancels"] = 100, ["io-fault"] = 101,
};
// --only ROUND,...: every round one of these in turn (a name may repeat to weigh it), no random rounds between.
bool only = args.Contains("--only");
var focus = Arg(only ? "--only" : "--focus", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
    .Select(f => roundPicks.TryGetValue(f, out int pick) ? pick : throw new ArgumentException($"--focus {f}: one of {string.Join(", ", roundPicks.Keys)}")).ToArray();
// ^C or SIGTERM ends the run after the round in progress, with the report (the round's own commands are bounded);
// a second signal takes its default and ends the harness at once.
int stopSignals = 0;
void StopAfterRound(PosixSignalContext context)
{
    if (Interlocked.Increment(ref stopSignals) == 1)
    {
        context.Cancel = true;
        Console.WriteLine($"# {context.Signal}: stopping after the round in progress");
    }
}
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, StopAfterRound);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopAfterRound);
var clock = Stopwatch.StartNew();
try
{
    while (clock.Elapsed < duration && Volatile.Read(ref stopSignals) == 0)
    {
        // --focus ROUND: every other round is that one (to repeat a finding, or to count one kind faster).
        int pick = only ? focus[tally.Rounds % focus.Length]
            : focus.Length > 0 && tally.Rounds % 2 == 0 ? focus[tally.Rounds / 2 % focus.Length] : rng.Next(100);
        if (pick < 35)
        {
            rounds.Backup();
        }
        else if (pick < 40)
        {
            rounds.Restore();
        }
        else if (pick < 43)
        {
            await rounds.OnlineRestoreAsync();
        }
        else if (pick < 46)
        {
            rounds.Prove();
        }
        else if (pick < 53)
        {
            rounds.Server(kill: rng.Next(10) < 6);
        }
        else if (pick < 63)
        {
            await rounds.FuzzAsync(1000);
        }
        else if (pick < 73)
        {
            rounds.CancelBurst(10);
        }
        else if (pick < 78)
        {
            rounds.KillBurst(10);
        }
        else if (pick < 84)
        {
            rounds.Ship();
        }
        else if (pick < 87)
        {
            if (small is not null)
            {
                rounds.FullVolume(small);
            }
        }
        else if (pick < 100)
        {
            rounds.Verify();
        }
        else if (pick == 100)
        {
            await rounds.LibraryCancelsAsync(20); // focus only: not among the random rounds
        }
        else
        {
            rounds.IoFault(); // focus only (the random mix stays what the seeds of earlier rows drew)
        }
        if (!server.CheckAlive())
        {
            tally.Violation("the server exited on its own (restarted)");
        }
        tally.Rounds++;
        if (tally.Rounds % 20 == 0)
        {
            Console.WriteLine($"  {clock.Elapsed.TotalMinutes:0.0} min: {tally.Summary(writers)}");
        }
    }
}
finally
{
    SmallVolume.Unmount(small);
}
await writers.StopAsync();
rounds.Verify();
if (Volatile.Read(ref stopSignals) > 0)
{
    Console.WriteLine($"# stopped by a signal at {clock.Elapsed.TotalMinutes:0.0} min of {duration.TotalMinutes:0}");
}
Console.WriteLine(tally.Report(writers, seed, clock.Elapsed < duration ? clock.Elapsed : duration));
return tally.Violations.Count == 0 ? 0 : 1;

static string Capture(params string[] args)
{
    var psi = new ProcessStartInfo("dotnet", [Programs.Cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    using var p = Process.Start(psi)!;
    var err = p.StandardError.ReadToEndAsync();
    var output = p.StandardOutput.ReadToEnd();
    if (!p.WaitForExit(300_000))
    {
        p.Kill(entireProcessTree: true);
        throw new TimeoutException($"blueback {string.Join(' ', args)} did not exit within 5 minutes");
    }
    if (p.ExitCode != 0)
    {
        throw new InvalidOperationException($"blueback {string.Join(' ', args)}: exit {p.ExitCode}: {err.Result}");
    }
    return output;
}
