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

    /// <summary>The server's count of bytes streamed to backups (its /metrics, with the bench's admin token).</summary>
    private static long BackupBytes(string url)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, url.TrimEnd('/') + Protocol.Routes.Metrics);
        request.Headers.Authorization = new("Bearer", Environment.GetEnvironmentVariable(Client.BluebackClient.TokenVariable));
        using var response = http.Send(request);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(response.Content.ReadAsStream());
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            if (line.StartsWith("blueback_backup_bytes", StringComparison.Ordinal))
            {
                return (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException("the server's /metrics has no blueback_backup_bytes");
    }

    public static void Run(string root, string url, double seconds, int rounds, string? repoRoot = null)
    {
        repoRoot ??= root; // --repo-dir: the repositories on another file system (tmpfs: no disk shared with the writers)
        var ci = CultureInfo.InvariantCulture;
        double without = 0, with = 0;
        int fulls = 0;
        var withouts = new List<double>();
        var withs = new List<(double Writers, double Backup)>();
        for (int round = 0; round < rounds; round++)
        {
            double w = WriterLoad.PutsPerSecond(url, seconds, null);
            withouts.Add(w);
            long sent0 = 0;
            var window = new System.Diagnostics.Stopwatch();
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
            }, TimeSpan.FromSeconds(1.5), () =>
            {
                sent0 = BackupBytes(url); // from the writers' start: the lead before it runs on an idle server
                window.Start();
            });
            double backupRate = (BackupBytes(url) - sent0) / window.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(ci, $"round {round}: writers {w:N0}/s without a backup, {b:N0}/s during full backups: {b / w:0.00}; the backups read {backupRate / 1e6:0.0} MB/s"));
            without = Math.Max(without, w);
            with = Math.Max(with, b);
            withs.Add((b, backupRate));
        }
        withouts.Add(WriterLoad.PutsPerSecond(url, seconds, null)); // the window after the last, to compare it with
        // Each window with backups against the mean of the windows without just before and after it (the writers'
        // rate drifts over a run), round 0 left out (warm-up).
        var kept = withs.Select((b, i) => b.Writers / ((withouts[i] + withouts[i + 1]) / 2)).Skip(1).Order().ToList();
        var read = withs.Skip(1).Select(b => b.Backup);
        Console.WriteLine(string.Create(ci, $"writers (16, durable 1 KiB puts over HTTP) during `blueback backup --type full` at {Options()} ({fulls} finished): kept {string.Join(", ", kept.Select(k => k.ToString("0.00", ci)))} of the mean of the windows around each, median {Stats.Median(kept):0.00} (target 0.95), the backups reading a median {Stats.Median(read) / 1e6:0.0} MB/s; best of each: {without:N0}/s without, {with:N0}/s with, {with / without:0.00}"));
    }
}
