using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Blueback.Bench;

/// <summary>Offline restore of a full set from a local repository beside `cp -r` of the instance's files (the
/// disk's copy rate), in one run. Both write to the same file system; each copy is flushed before its clock stops.</summary>
internal static class RestoreBench
{
    public static void Run(string root, string data, string url)
    {
        var repo = Path.Combine(root, "restore-repo");
        Shell.Blueback("repo", "init", repo);
        Shell.Blueback("backup", "--server", url, "--repo", repo, "--type", "full", "--no-compress");
        var source = Path.Combine(data, "store");
        long bytes = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".bdb", StringComparison.Ordinal) || f.EndsWith(".log", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);
        double cp = 0, dd = 0, restore = 0, restoreBytes = 0;
        for (int round = 0; round < 3; round++)
        {
            var cpTarget = Path.Combine(root, $"cp-{round}");
            var sw = Stopwatch.StartNew();
            Shell.Run("cp", "-r", source, cpTarget);
            Shell.Run("sync", "-f", cpTarget);
            double cpRate = bytes / sw.Elapsed.TotalSeconds;
            Directory.Delete(cpTarget, true);
            double ddRate = Shell.DirectCopyRate(Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".bdb", StringComparison.Ordinal) || f.EndsWith(".log", StringComparison.Ordinal)), Path.Combine(root, $"dd-{round}"));

            var target = Path.Combine(root, $"restored-{round}");
            sw.Restart();
            var json = Shell.Blueback("restore", "--repo", repo, "--to", target, "--json");
            double seconds = sw.Elapsed.TotalSeconds;
            long restored = JsonDocument.Parse(json).RootElement.GetProperty("bytes").GetInt64();
            Directory.Delete(target, true);
            if (round > 0)
            {
                // Round 0 warms the page cache and the file system for both; the better of the next two counts.
                cp = Math.Max(cp, cpRate);
                dd = Math.Max(dd, ddRate);
                if (restored / seconds > restore)
                {
                    restore = restored / seconds;
                    restoreBytes = restored;
                }
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"offline restore (uncompressed set, process start and hard recovery included): {restore / 1e6:0} MB/s ({restoreBytes / 1048576:0} MiB); cp -r of the instance files: {cp / 1e6:0} MB/s; ratio {restore / cp:0.00}; dd oflag=direct of the same files: {dd / 1e6:0} MB/s; ratio {restore / dd:0.00}"));
    }
}
