using System.Diagnostics;
using System.Text;
using Blueback.Client;

namespace Blueback.Bench;

/// <summary>The writers the benches measure other work against: 16 clients doing durable 1 KiB puts over HTTP for a
/// while, with some background work running meanwhile (a backup loop, a proof loop) or none.</summary>
internal static class WriterLoad
{
    /// <summary>Puts per second over <paramref name="seconds"/>; <paramref name="background"/> starts first and gets the
    /// window's token, and the writers start after <paramref name="lead"/> (past the work's start-up).</summary>
    public static double PutsPerSecond(string url, double seconds, Func<CancellationToken, Task>? background, TimeSpan lead = default, Action? writersStart = null) => Task.Run(async () =>
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds) + lead);
        long ops = 0;
        var value = new byte[1024];
        var bg = background is null ? Task.CompletedTask : Task.Run(() => background(stop.Token));
        await Task.Delay(lead);
        writersStart?.Invoke();
        var sw = Stopwatch.StartNew();
        var writers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            using var c = new BluebackClient(url);
            for (long i = 0; !stop.IsCancellationRequested; i++)
            {
                await c.PutAsync("store", "public", "w", Encoding.UTF8.GetBytes($"w{w}-{i % 5000}"), value);
                Interlocked.Increment(ref ops);
            }
        })).ToList();
        await Task.WhenAll(writers);
        double rate = ops / sw.Elapsed.TotalSeconds;
        try
        {
            await bg;
        }
        catch (OperationCanceledException)
        {
            // the work stopped with the window
        }
        return rate;
    }).GetAwaiter().GetResult();
}
