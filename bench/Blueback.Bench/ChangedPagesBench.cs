using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Blueback.Client;

namespace Blueback.Bench;

/// <summary>Changed-pages backups after 1% of the rows changed (at random), in one run against the served instance:
/// backup time and stored bytes of a changed-pages set against a log-only one of the same changes (differentials, so
/// that both read the very same server state, alternating twice), then a changed-pages incremental, and a whole-image
/// full into an empty repository; restore time of the full + changed-pages incremental chain against the full alone
/// (process start and hard recovery included in both, alternating twice).</summary>
internal static class ChangedPagesBench
{
    public static void Run(string root, string data, string url, long bytes)
    {
        var ci = CultureInfo.InvariantCulture;
        var repo = Path.Combine(root, "pages-repo");
        Shell.Blueback("repo", "init", repo);
        var full = Backup(url, repo, "--type", "full");
        long rows = bytes / 4096, changed = rows / 100;
        using (var c = new BluebackClient(url))
        {
            var value = new byte[4096];
            var rng = new Random(17);
            Task.Run(async () =>
            {
                for (long i = 0; i < changed; i++)
                {
                    rng.NextBytes(value);
                    await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{rng.NextInt64(rows):D10}"), value);
                }
            }).GetAwaiter().GetResult();
        }
        Result? pagesDiff = null, logDiff = null;
        for (int round = 0; round < 2; round++)
        {
            pagesDiff = Best(pagesDiff, Backup(url, repo, "--type", "differential", "--changed-pages"));
            logDiff = Best(logDiff, Backup(url, repo, "--type", "differential"));
        }
        // Same pages as the differentials' (the state did not change): its bytes read are its own; what it stores, the
        // first changed-pages differential already stored.
        var pagesInc = Backup(url, repo, "--type", "incremental", "--changed-pages");
        var wholeRepo = Path.Combine(root, "pages-whole-repo");
        Shell.Blueback("repo", "init", wholeRepo);
        var whole = Backup(url, wholeRepo, "--type", "full");

        double chain = double.MaxValue, alone = double.MaxValue;
        for (int round = 0; round < 2; round++)
        {
            chain = Math.Min(chain, Restore(repo, pagesInc.Set, Path.Combine(root, $"pages-restore-chain-{round}")));
            alone = Math.Min(alone, Restore(repo, full.Set, Path.Combine(root, $"pages-restore-full-{round}")));
        }
        Directory.Delete(repo, recursive: true);
        Directory.Delete(wholeRepo, recursive: true);
        Console.WriteLine(string.Create(ci, $"changed pages after {changed:N0} of {rows:N0} rows (1%) changed at random:"));
        Console.WriteLine(string.Create(ci, $"  changed-pages differential {pagesDiff!.Seconds:0.00} s, {pagesDiff.Stored / 1048576.0:0.0} MiB stored ({pagesDiff.Raw / 1048576.0:0.0} MiB read)"));
        Console.WriteLine(string.Create(ci, $"  log-only differential      {logDiff!.Seconds:0.00} s, {logDiff.Stored / 1048576.0:0.0} MiB stored ({logDiff.Raw / 1048576.0:0.0} MiB read)"));
        Console.WriteLine(string.Create(ci, $"  changed-pages incremental  {pagesInc.Seconds:0.00} s, {pagesInc.Raw / 1048576.0:0.0} MiB read (the same pages as the differential's, already stored)"));
        Console.WriteLine(string.Create(ci, $"  whole-image full (empty repository) {whole.Seconds:0.00} s, {whole.Stored / 1048576.0:0.0} MiB stored ({whole.Raw / 1048576.0:0.0} MiB read)"));
        Console.WriteLine(string.Create(ci, $"  ratios: changed-pages / full in time {pagesInc.Seconds / whole.Seconds:0.000}, in stored bytes {(double)pagesDiff.Stored / whole.Stored:0.0000}; changed-pages / log-only (differentials) in time {pagesDiff.Seconds / logDiff.Seconds:0.00}, in stored bytes {(double)pagesDiff.Stored / logDiff.Stored:0.00}"));
        Console.WriteLine(string.Create(ci, $"  restore: full + changed-pages incremental {chain:0.00} s, full alone {alone:0.00} s, ratio {chain / alone:0.00}"));
    }

    private sealed record Result(string Set, double Seconds, long Raw, long Stored);

    /// <summary>The better time of two rounds, and the first round's bytes: the second finds the same content already in
    /// the repository (the server's state did not change), so it stores next to nothing.</summary>
    private static Result Best(Result? first, Result b) => first is null ? b : first with { Seconds = Math.Min(first.Seconds, b.Seconds) };

    private static Result Backup(string url, string repo, params string[] args)
    {
        var sw = Stopwatch.StartNew();
        var json = JsonDocument.Parse(Shell.Blueback(["backup", "--server", url, "--repo", repo, "--json", .. args])).RootElement;
        double seconds = sw.Elapsed.TotalSeconds; // the program's whole run, start-up included, as a user waits for it
        return new Result(json.GetProperty("set").GetString()!, seconds, json.GetProperty("bytes").GetInt64(), json.GetProperty("stored").GetInt64());
    }

    private static double Restore(string repo, string set, string target)
    {
        var sw = Stopwatch.StartNew();
        Shell.Blueback("restore", "--repo", repo, "--set", set, "--to", target);
        double seconds = sw.Elapsed.TotalSeconds;
        Directory.Delete(target, recursive: true);
        return seconds;
    }
}
