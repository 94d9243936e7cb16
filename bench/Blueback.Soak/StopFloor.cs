using System.Globalization;
using System.Runtime.InteropServices;

namespace Blueback.Soak;

/// <summary><c>--stop-floor N</c>: the least time any .NET program takes here to exit after a terminal's ^C, measured
/// the way <see cref="StopTimes"/> measures blueback (the same pty helper), as the ceiling its figures are read
/// against. The child is this program with <c>--floor-child MODE BURN</c>: MODE "exit" ends in the signal handler
/// itself (signal delivery to managed code plus process teardown: nothing less is possible); "graceful" does what
/// blueback's stop does with no work to undo (a thread cancels a token, the awaiting code's continuation catches the
/// cancellation, writes one line, exits). BURN threads spin at the same priority, as a backup's own work keeps both
/// cores busy when the ^C comes.</summary>
internal static partial class StopFloor
{
    public static int Run(int count)
    {
        var self = Path.Combine(AppContext.BaseDirectory, "Blueback.Soak.dll");
        foreach (var mode in new[] { "exit", "graceful" })
        {
            foreach (int burn in new[] { 0, 2 })
            {
                var times = new List<double>();
                int wrong = 0;
                for (int i = 0; i < count; i++)
                {
                    var o = Programs.RunDll(self, "INT", 1.0, TimeSpan.FromSeconds(30), "--floor-child", mode, burn.ToString(CultureInfo.InvariantCulture));
                    times.Add(o.MsAfterSignal);
                    wrong += o.Exit == 130 && o.Landed ? 0 : 1;
                }
                times.Sort();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"## stop floor: {mode,-8} with {burn} busy thread(s): ms after the signal over {count}: p50 {Tally.P(times, 0.5):0.0}, p90 {Tally.P(times, 0.9):0.0}, max {Tally.P(times, 1):0.0}; {wrong} exit(s) not 130"));
            }
        }
        return 0;
    }

    /// <summary>The child: waits for ^C (at most a minute) and exits 130 as <paramref name="mode"/> says.</summary>
    public static int Child(string mode, int burn)
    {
        using var stop = new CancellationTokenSource();
        using var registration = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            if (mode == "exit")
            {
                ExitNow(130);
            }
            new Thread(() => stop.Cancel()) { IsBackground = true }.Start();
        });
        for (int i = 0; i < burn; i++)
        {
            new Thread(Spin) { IsBackground = true }.Start();
        }
        try
        {
            Task.Delay(TimeSpan.FromMinutes(1), stop.Token).GetAwaiter().GetResult();
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled.");
            ExitNow(130);
            return 130;
        }
    }

    private static void Spin()
    {
        double x = 0;
        while (x >= 0)
        {
            x += Math.Sqrt(x + 1);
        }
    }

    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitNow(int status);
}
