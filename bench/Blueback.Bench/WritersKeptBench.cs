using System.Globalization;

namespace Blueback.Bench;

/// <summary>Issue 31's writers target: what full backups at default options cost the instance's writers. 16 durable
/// 1 KiB writers over HTTP, measured without a backup and while `blueback backup --type full` (the real program,
/// defaults: server-side compression, nice 10, into a new local repository each time, so every chunk is new) runs
/// back to back, alternating, best of <c>rounds</c> each. The server is the bench's (its defaults: backupReadNice 10,
/// backupBusyRateMBps 200).</summary>
internal static class WritersKeptBench
{
    /// <summary>BLUEBACK_BENCH_BACKUP_ARGS: options to try on the program (space-separated, e.g. "--nice 19").</summary>
    private static string[] ExtraArgs => (Environment.GetEnvironmentVariable("BLUEBACK_BENCH_BACKUP_ARGS") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static string Options() =>
        ExtraArgs.Length == 0 && Environment.GetEnvironmentVariable("BLUEBACK_BENCH_SERVER_CONFIG") is null or ""
            ? "default options"
            : $"options '{string.Join(' ', ExtraArgs)}', server config {Environment.GetEnvironmentVariable("BLUEBACK_BENCH_SERVER_CONFIG") ?? "default"}";

    public static void Run(string root, string url, double seconds, int rounds, string? repoRoot = null)
    {
        repoRoot ??= root; // --repo-dir: the repositories on another file system (tmpfs: no disk shared with the writers)
        var ci = CultureInfo.InvariantCulture;
        double without = 0, with = 0;
        int fulls = 0;
        for (int round = 0; round < rounds; round++)
        {
            double w = WriterLoad.PutsPerSecond(url, seconds, null);
            double b = WriterLoad.PutsPerSecond(url, seconds, async ct =>
            {
                while (!ct.IsCancellationRequested)
                {
                    var repo = Path.Combine(repoRoot, $"kept-{fulls}");
                    Shell.Blueback(["repo", "init", repo]);
                    await Shell.BluebackAsync(ct, ["backup", "--server", url, "--repo", repo, "--type", "full", "--json", .. ExtraArgs]);
                    fulls += ct.IsCancellationRequested ? 0 : 1;
                    Directory.Delete(repo, recursive: true);
                }
            }, TimeSpan.FromSeconds(1.5));
            Console.WriteLine(string.Create(ci, $"round {round}: writers {w:N0}/s without a backup, {b:N0}/s during full backups: {b / w:0.00}"));
            without = Math.Max(without, w);
            with = Math.Max(with, b);
        }
        Console.WriteLine(string.Create(ci, $"writers (16, durable 1 KiB puts over HTTP): {without:N0}/s without a backup, {with:N0}/s during `blueback backup --type full` at {Options()} ({fulls} finished), kept {with / without:0.00} (target 0.95)"));
    }
}
