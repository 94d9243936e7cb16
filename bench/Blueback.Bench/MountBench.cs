using System.Diagnostics;
using System.Globalization;
using System.Text;
using Blueback.Client;

namespace Blueback.Bench;

/// <summary>Time to the first read of a backup set: mounted (<c>blueback mount</c>: process start to the first GET
/// answered) against restored (<c>blueback restore --to</c>, then <c>serve</c> on it, to the first GET answered), in
/// one run, alternating, best of the rounds; with the bytes the mount fetched from the repository.</summary>
internal static class MountBench
{
    private static string Cli => Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    public static void Run(string root, string url, long bytes, int rounds)
    {
        var ci = CultureInfo.InvariantCulture;
        var repo = Path.Combine(root, "mount-repo");
        Shell.Blueback("repo", "init", repo);
        Shell.Blueback("backup", "--server", url, "--repo", repo, "--type", "full");
        var key = Encoding.UTF8.GetBytes($"k{bytes / 4096 / 2:D10}"); // a key in the middle of the table
        var restore = new List<double>();
        var mount = new List<double>();
        long fetched = 0, images = 0;
        for (int round = 0; round < rounds; round++)
        {
            var sw = Stopwatch.StartNew();
            var dir = Path.Combine(root, $"mount-restored-{round}");
            Shell.Blueback("restore", "--repo", repo, "--set", "latest", "--to", dir);
            var (server, serverUrl) = BenchProcess.Start(["serve", "--data", dir]);
            FirstRead(serverUrl, key);
            restore.Add(sw.Elapsed.TotalSeconds);
            Stop(server);
            Directory.Delete(dir, recursive: true);

            sw.Restart();
            var (mounted, urls) = BenchProcess.StartListening("dotnet", [Cli, "mount", "--repo", repo, "--cache", root], ["http://127.0.0.1:0"], "--token-file");
            FirstRead(urls[^1], key);
            mount.Add(sw.Elapsed.TotalSeconds);
            using (var c = new BluebackClient(urls[^1]))
            {
                var m = c.StatusAsync().GetAwaiter().GetResult().Instances.Single(i => i.Name == "store").Mount!;
                (fetched, images) = (m.BytesFetched, m.ImageBytes);
            }
            Stop(mounted);
        }
        Directory.Delete(repo, recursive: true);
        Console.WriteLine(string.Create(ci, $"mount, a set of {bytes >> 20} MiB in mailbox/t, time to the first GET answered, best of {rounds} alternating rounds, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at the end:"));
        Console.WriteLine(string.Create(ci, $"  restore --to, then serve: best {restore.Min():0.00} s (rounds: {string.Join(", ", restore.Select(t => t.ToString("0.00", ci)))})"));
        Console.WriteLine(string.Create(ci, $"  mount: best {mount.Min():0.00} s (rounds: {string.Join(", ", mount.Select(t => t.ToString("0.00", ci)))}); / restore {mount.Min() / restore.Min():0.000}"));
        Console.WriteLine(string.Create(ci, $"  mount fetched {fetched:N0} bytes of {images:N0} bytes of images ({100.0 * fetched / Math.Max(1, images):0.00} %)"));
    }

    private static void FirstRead(string url, byte[] key)
    {
        using var c = new BluebackClient(url);
        if (c.GetAsync("store", "mailbox", "t", key).GetAwaiter().GetResult() is null)
        {
            throw new InvalidOperationException($"key {Encoding.UTF8.GetString(key)} not found at {url}");
        }
    }

    /// <summary>SIGTERM and a bounded wait: each stops as an operator stops it (the mount removes its cache).</summary>
    private static void Stop(Process p)
    {
        Shell.Run("kill", "-TERM", p.Id.ToString(CultureInfo.InvariantCulture));
        if (!p.WaitForExit(30_000))
        {
            p.Kill(entireProcessTree: true);
        }
        p.Dispose();
    }
}
