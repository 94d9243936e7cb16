using System.Globalization;

namespace Blueback.Soak;

/// <summary><c>--stop-times N</c>: how long a backup program takes to exit after a terminal's ^C once it is past its
/// start-up. The instance is loaded first (so that a copy backup runs for several seconds), then N copy backups are
/// each stopped by ^C 1.0 to 2.0 s after they started, while the soak's writers commit (none with --writers 0).
/// Prints every exit code that is not 130 and the distribution of exit times.</summary>
internal static class StopTimes
{
    public static int Run(SoakServer server, string repo, int count, Random rng, string[] extra)
    {
        var ci = CultureInfo.InvariantCulture;
        var load = Programs.Run("none", 0, TimeSpan.FromMinutes(10), "load", "--server", server.Url, "--writers", "8", "--ops", "320000", "--value-size", "4096", "--batch", "16");
        if (load.Exit != 0)
        {
            Console.WriteLine($"# load failed (exit {load.Exit}): {load.Output}");
            return 2;
        }
        var times = new List<double>();
        int wrong = 0, early = 0;
        for (int i = 0; i < count; i++)
        {
            var o = Programs.Run("INT", 1.0 + rng.NextDouble(), TimeSpan.FromMinutes(5), ["backup", "--server", server.Url, "--repo", repo, "--type", "copy", .. extra]);
            if (!o.Landed)
            {
                early++; // finished (or failed) before the signal: no stop to time
                continue;
            }
            times.Add(o.MsAfterSignal);
            if (o.Exit != 130 || o.Hung)
            {
                wrong++;
                Console.WriteLine(string.Create(ci, $"  exit {o.Exit}{(o.Hung ? " (hung)" : "")} after ^C at {o.Delay:0.00} s: {o.Output[^Math.Min(300, o.Output.Length)..]}"));
            }
        }
        times.Sort();
        Console.WriteLine(string.Create(ci, $"## stop times: {times.Count} copy backups stopped by ^C at 1-2 s{(extra.Length > 0 ? " (" + string.Join(' ', extra) + ")" : "")}; ms after the signal: p50 {Tally.P(times, 0.5):0}, p90 {Tally.P(times, 0.9):0}, p99 {Tally.P(times, 0.99):0}, max {Tally.P(times, 1):0}; {wrong} exit(s) not 130; {early} finished before the signal"));
        return wrong == 0 ? 0 : 1;
    }
}
