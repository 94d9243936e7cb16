using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Blueback.Client;

namespace Blueback.Bench;

/// <summary>`blueback restore --delta` over an older copy against a whole restore, for the same set, in one run: the
/// served instance is backed up and restored (the older copy), 1% of its rows are rewritten on the server, a new full
/// set is taken; then, alternating twice, that set is restored whole into a new directory and as a delta over a
/// fresh copy of the older one (process start and hard recovery included in both). Twice: with the changed rows
/// spread at random over the whole key space (so over nearly every chunk), and with them in one key range (the
/// newest rows of a mailbox, say), where most chunks are still in the older copy.</summary>
internal static class DeltaRestoreBench
{
    public static void Run(string root, string data, string url, long bytes)
    {
        Run(root, url, bytes, spread: true);
        Run(root, url, bytes, spread: false);
    }

    private static void Run(string root, string url, long bytes, bool spread)
    {
        var ci = CultureInfo.InvariantCulture;
        var repo = Path.Combine(root, "delta-repo");
        Shell.Blueback("repo", "init", repo);
        Shell.Blueback("backup", "--server", url, "--repo", repo, "--type", "full");
        var older = Path.Combine(root, "delta-older");
        Shell.Blueback("restore", "--repo", repo, "--to", older);
        long rows = bytes / 4096, changed = rows / 100;
        using (var c = new BluebackClient(url))
        {
            var value = new byte[4096];
            var rng = new Random(9);
            Task.Run(async () =>
            {
                for (long i = 0; i < changed; i++)
                {
                    rng.NextBytes(value);
                    long row = spread ? rng.NextInt64(rows) : rows / 2 + i;
                    await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{row:D10}"), value);
                }
            }).GetAwaiter().GetResult();
        }
        // The first full after the changes checkpoints them into the database file (its truncation); the one after it
        // holds them in its image, which is what the restores compare.
        Shell.Blueback("backup", "--server", url, "--repo", repo, "--type", "full");
        var set = JsonDocument.Parse(Shell.Blueback("backup", "--server", url, "--repo", repo, "--type", "full", "--json")).RootElement.GetProperty("set").GetString()!;
        double whole = double.MaxValue, delta = double.MaxValue;
        long rewritten = 0, pages = 0;
        for (int round = 0; round < 2; round++)
        {
            var target = Path.Combine(root, $"delta-whole-{round}");
            var sw = Stopwatch.StartNew();
            Shell.Blueback("restore", "--repo", repo, "--set", set, "--to", target);
            whole = Math.Min(whole, sw.Elapsed.TotalSeconds);
            Directory.Delete(target, recursive: true);

            var copy = Path.Combine(root, $"delta-copy-{round}");
            Shell.Run("cp", "-r", older, copy);
            Shell.Run("sync");
            sw.Restart();
            var json = JsonDocument.Parse(Shell.Blueback("restore", "--repo", repo, "--set", set, "--to", copy, "--delta", "--json")).RootElement;
            delta = Math.Min(delta, sw.Elapsed.TotalSeconds);
            var mailbox = json.GetProperty("delta").EnumerateArray().Single(d => d.GetProperty("database").GetString() == "mailbox");
            (rewritten, pages) = (mailbox.GetProperty("rewritten").GetInt64(), mailbox.GetProperty("pages").GetInt64());
            Directory.Delete(copy, recursive: true);
        }
        Directory.Delete(older, recursive: true);
        Directory.Delete(repo, recursive: true);
        Console.WriteLine(string.Create(ci, $"delta restore after {changed:N0} of {rows:N0} rows (1%) changed {(spread ? "at random" : "in one key range")}: {delta:0.00} s, {rewritten:N0} of {pages:N0} pages rewritten ({100.0 * rewritten / pages:0.0}%); whole restore of the same set {whole:0.00} s; delta / whole in time {delta / whole:0.00}"));
    }
}
