using System.Diagnostics;
using System.Globalization;
using System.Text;
using Blueback.Client;

namespace Blueback.Bench;

/// <summary>Promotion of a warm standby (issue 17), with real processes: a primary under load ships into a
/// repository; a standby follows it; the clock runs from starting <c>blueback standby promote</c> to the first write
/// the promoted instance accepts. Each round starts a fresh standby.</summary>
internal static class PromoteBench
{
    public static void Run(string root, int rounds)
    {
        var dir = Path.Combine(root, "promote");
        Directory.CreateDirectory(dir);
        var repo = Path.Combine(dir, "repo");
        var (primary, url) = Start(["serve", "--data", Path.Combine(dir, "primary")]);
        Process? shipper = null;
        var times = new List<double>();
        var lags = new List<double>();
        try
        {
            Shell.Blueback(["repo", "init", repo]);
            Shell.Blueback(["load", "--server", url, "--seconds", "3", "--writers", "8"]);
            Shell.Blueback(["backup", "--server", url, "--repo", repo]);
            shipper = Process.Start(new ProcessStartInfo("dotnet", [Cli, "ship", "--server", url, "--repo", repo, "--max-lag", "1s", "--quiet"]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true })!;
            shipper.BeginOutputReadLine();
            shipper.BeginErrorReadLine();
            using var load = Process.Start(new ProcessStartInfo("dotnet", [Cli, "load", "--server", url, "--seconds", "600", "--writers", "4"]) { UseShellExecute = false, RedirectStandardOutput = true })!;
            try
            {
                for (int round = 0; round < rounds; round++)
                {
                    var (standby, surl) = Start(["standby", "--to", Path.Combine(dir, $"standby-{round}"), "--repo", repo, "--instance", "store"]);
                    try
                    {
                        using var c = new BluebackClient(surl);
                        var sw = Stopwatch.StartNew();
                        while ((c.StatusAsync().GetAwaiter().GetResult().Instances.Single(i => i.Name == "store").Standby?.State) != "following")
                        {
                            if (sw.Elapsed > TimeSpan.FromMinutes(2))
                            {
                                throw new InvalidOperationException("the standby did not start following");
                            }
                            Thread.Sleep(100);
                        }
                        for (int i = 0; i < 20; i++) // following under load: how far behind the primary's shipped commits
                        {
                            Thread.Sleep(100);
                            lags.Add(c.StatusAsync().GetAwaiter().GetResult().Instances.Single(x => x.Name == "store").Standby!.LagSeconds);
                        }
                        sw.Restart();
                        var said = Shell.Blueback(["standby", "promote", "--server", surl]);
                        c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes("first-write"), new byte[] { 1 }).GetAwaiter().GetResult();
                        times.Add(sw.Elapsed.TotalSeconds);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  promotion {round}: {times[^1]:0.000} s from the command to the first accepted write ({said.Trim().Split(':')[0]} on the server)"));
                    }
                    finally
                    {
                        standby.Kill(entireProcessTree: true);
                        standby.WaitForExit(10_000);
                    }
                }
            }
            finally
            {
                load.Kill(entireProcessTree: true);
            }
        }
        finally
        {
            shipper?.Kill(entireProcessTree: true);
            primary.Kill(entireProcessTree: true);
            primary.WaitForExit(10_000);
        }
        times.Sort();
        lags.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"standby lag behind the primary's shipped commits while following (status lagSeconds, {lags.Count} samples): p50 {lags[lags.Count / 2]:0.00} s, p99 {lags[Math.Min(lags.Count - 1, (int)(0.99 * lags.Count))]:0.00} s, max {lags[^1]:0.00} s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"promotion: {times.Count} rounds, p50 {times[times.Count / 2]:0.000} s, p99 {times[Math.Min(times.Count - 1, (int)(0.99 * times.Count))]:0.000} s, max {times[^1]:0.000} s (target p99 under 5 s)"));
        Directory.Delete(dir, recursive: true);
    }

    private static string Cli => Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    private static (Process Process, string Url) Start(string[] args) => BenchProcess.Start(args);
}
