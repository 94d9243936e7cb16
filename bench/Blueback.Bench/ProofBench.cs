using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Blueback.Client;

namespace Blueback.Bench;

/// <summary>What a proof costs the writers (issue target: they keep at least 95% of their rate), and what it costs in time
/// against a plain restore of the same set: a full backup with --digest, then 16 durable 1 KiB writers over HTTP measured
/// without a proof and during `blueback prove` (the real program, at its default nice 19), alternating, best of two
/// rounds each; then one proof and one `restore --to` of the set, timed.</summary>
internal static class ProofBench
{
    public static void Run(string root, string url, long bytes)
    {
        var ci = CultureInfo.InvariantCulture;
        var repo = Path.Combine(root, "proof-repo");
        Shell.Blueback(["repo", "init", repo]);
        Shell.Blueback(["backup", "--server", url, "--repo", repo, "--digest", "--json"]);
        var scratch = Path.Combine(root, "proof-scratch");

        var proof = Stopwatch.StartNew();
        var record = JsonDocument.Parse(Shell.Blueback(["prove", "--repo", repo, "--scratch", scratch, "--json"])).RootElement.GetProperty("proof");
        double proofSeconds = proof.Elapsed.TotalSeconds;
        var restore = Stopwatch.StartNew();
        Shell.Blueback(["restore", "--repo", repo, "--to", Path.Combine(root, "proof-restore")]);
        double restoreSeconds = restore.Elapsed.TotalSeconds;
        Directory.Delete(Path.Combine(root, "proof-restore"), recursive: true);
        Console.WriteLine(string.Create(ci, $"proof of a {bytes >> 20} MiB full set: {proofSeconds:0.0} s (restore, recovery, {record.GetProperty("pagesChecked").GetInt64():N0} pages checked, {record.GetProperty("rows").GetInt64():N0} rows digested, digest match {record.GetProperty("digestMatch")}) against `restore --to` of the same set {restoreSeconds:0.0} s: {proofSeconds / restoreSeconds:0.00}x"));

        double without = 0, with = 0;
        int proofs = 0;
        for (int round = 0; round < 2; round++)
        {
            without = Math.Max(without, Writers(url, 10, null));
            var during = Writers(url, 10, async ct =>
            {
                while (!ct.IsCancellationRequested)
                {
                    await Shell.BluebackAsync(ct, "prove", "--repo", repo, "--scratch", scratch, "--json");
                    proofs++;
                }
            });
            with = Math.Max(with, during);
        }
        Console.WriteLine(string.Create(ci, $"writers (16, durable 1 KiB puts over HTTP): {without:N0}/s without a proof, {with:N0}/s while `blueback prove` ran ({proofs} proofs, nice 19), kept {with / without:0.00} (target 0.95)"));
    }

    /// <summary>Puts per second of 16 writers over <paramref name="seconds"/>, with <paramref name="background"/> running meanwhile.</summary>
    private static double Writers(string url, double seconds, Func<CancellationToken, Task>? background) => Task.Run(async () =>
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        long ops = 0;
        var value = new byte[1024];
        var bg = background is null ? Task.CompletedTask : Task.Run(() => background(stop.Token));
        await Task.Delay(background is null ? 0 : 1500); // the proof past its start-up
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
            // the proof stopped with the window
        }
        return rate;
    }).GetAwaiter().GetResult();
}
