using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Blueback.Bench;

/// <summary>The case a new user found: a fresh server loaded with `blueback load --writers 8 --ops 6000
/// --value-size 65536` (about 750 MB on disk), then the first `blueback backup --type full` into a local
/// repository, against `cp -r` of the data directory and `sync` in the same minute. Each round is a new server and
/// data directory; the rate is the set's bytes over the backup's wall time (process start to exit, as the user
/// timed it), and cp's the data directory's bytes over its time. A second backup right after shows the steady
/// rate without the first one's work (the checkpoint of the load's pages, the truncation of its logs). Two builds
/// alternate, round by round: the bench's own (JIT-compiled, as `dotnet run` runs blueback) and blueback installed
/// with `dotnet publish` (compiled ahead of time, ReadyToRun), which is how it is meant to be run.</summary>
internal static class NewUserBench
{
    public static void Run(string root, int rounds)
    {
        var install = Path.Combine(root, "install");
        var project = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../src/Blueback.Cli"));
        Shell.Run("dotnet", "publish", project, "-c", "Release", "-o", install);
        var results = new Dictionary<string, List<(double First, double Second, double Cp, double FirstSeconds, double CpSeconds)>>();
        for (int round = 0; round < 2 * rounds; round++)
        {
            string? exe = round % 2 == 0 ? Path.Combine(install, "blueback") : null;
            var key = exe is null ? "the bench's build (JIT)" : "installed (dotnet publish, ReadyToRun)";
            RunRound(root, round, exe, results.TryGetValue(key, out var list) ? list : results[key] = []);
        }
        var ci = CultureInfo.InvariantCulture;
        foreach (var (key, rows) in results)
        {
            var kept = rows.Skip(rows.Count > 1 ? 1 : 0).ToList(); // each build's first round warms the page cache and the disk
            double Median(Func<(double First, double Second, double Cp, double FirstSeconds, double CpSeconds), double> f) => kept.Select(f).Order().ElementAt(kept.Count / 2);
            Console.WriteLine(string.Create(ci, $"new-user case, {key}, median of {kept.Count} rounds: first full backup {Median(r => r.First):0} MB/s, second {Median(r => r.Second):0} MB/s, cp -r + sync {Median(r => r.Cp):0} MB/s; first / cp {Median(r => r.First / r.Cp):0.00}, in time cp / first {Median(r => r.CpSeconds / r.FirstSeconds):0.00}"));
        }
    }

    private static void RunRound(string root, int round, string? exe, List<(double First, double Second, double Cp, double FirstSeconds, double CpSeconds)> rows)
    {
        var ci = CultureInfo.InvariantCulture;
        string Cli(params string[] args) => exe is null ? Shell.Blueback(args) : Shell.Run(exe, args);
        var dir = Path.Combine(root, $"new-user-{round}");
        var data = Path.Combine(dir, "data");
        var (server, url) = BenchProcess.Start(exe, ["serve", "--data", data]);
        try
        {
            Environment.SetEnvironmentVariable("BLUEBACK_TOKEN", File.ReadAllText(BenchToken.File).Trim());
            Cli("load", "--server", url, "--writers", "8", "--ops", "6000", "--value-size", "65536");
            var repo = Path.Combine(dir, "repo");
            Cli("repo", "init", repo);
            var (first, firstSeconds) = Backup(Cli, url, repo);
            var (second, _) = Backup(Cli, url, repo);
            long dataBytes = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            var copy = Path.Combine(dir, "copy");
            var sw = Stopwatch.StartNew();
            Shell.Run("cp", "-r", data, copy);
            Shell.Run("sync");
            double cpSeconds = sw.Elapsed.TotalSeconds;
            rows.Add((first, second, dataBytes / cpSeconds / 1e6, firstSeconds, cpSeconds));
            Console.WriteLine(string.Create(ci, $"round {round} ({(exe is null ? "JIT" : "ReadyToRun")}): first backup {first:0} MB/s ({firstSeconds:0.00} s), second {second:0} MB/s, cp -r + sync of {dataBytes >> 20} MiB {dataBytes / cpSeconds / 1e6:0} MB/s ({cpSeconds:0.00} s)"));
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(30_000);
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A full backup as the user runs it: MB/s of the set's bytes over the process's wall time.</summary>
    private static (double Rate, double Seconds) Backup(Func<string[], string> cli, string url, string repo)
    {
        var sw = Stopwatch.StartNew();
        var output = cli(["backup", "--server", url, "--instance", "store", "--type", "full", "--repo", repo, "--json"]);
        double seconds = sw.Elapsed.TotalSeconds;
        long bytes = JsonDocument.Parse(output).RootElement.GetProperty("bytes").GetInt64();
        return (bytes / seconds / 1e6, seconds);
    }
}
