using System.Diagnostics;
using System.Globalization;
using Blueback.Backup;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.Bench;

/// <summary>Log shipping under load (issue 17): 16 writers commit 1 KiB puts through the server; the same run
/// without a shipper and with one (into a local directory, then into moto), alternating. The lag of a commit is
/// from its acknowledgement to the moment the shipper has committed its generation to the repository (every commit
/// in a generation becomes durable there at once).</summary>
internal static class ShipBench
{
    private const int Writers = 16;

    public static void Run(string root, string url, double seconds, TimeSpan maxLag)
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "bench");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "bench");
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
        var local = Path.Combine(root, "ship-repo");
        Shell.Blueback(["repo", "init", local]);
        Shell.Blueback(["backup", "--server", url, "--repo", local, "--type", "full"]);
        var rows = new List<string>();
        double without = 0, with = 0;
        List<double> localLags = [];
        for (int round = 0; round < 2; round++)
        {
            without = Math.Max(without, Load(url, seconds, out _));
            var (rate, lags) = Shipped(url, seconds, maxLag, BackupRepository.OpenAsync(new LocalDirectoryStore(local)).GetAwaiter().GetResult());
            with = Math.Max(with, rate);
            localLags.AddRange(lags);
        }
        rows.Add(Row("local directory", without, with, localLags, maxLag));
        int port = S3Bench.FreePort();
        using var moto = Process.Start(new ProcessStartInfo("moto_server", ["-H", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        moto.BeginOutputReadLine();
        moto.BeginErrorReadLine();
        try
        {
            var endpoint = $"http://127.0.0.1:{port}";
            S3Bench.WaitReady(endpoint);
            using (var http = new HttpClient())
            {
                http.Send(new HttpRequestMessage(HttpMethod.Put, $"{endpoint}/bench")).EnsureSuccessStatusCode();
            }
            Shell.Blueback(["repo", "init", "s3://bench/ship", "--s3-endpoint", endpoint]);
            Shell.Blueback(["backup", "--server", url, "--repo", "s3://bench/ship", "--type", "full", "--s3-endpoint", endpoint]);
            var s3 = BackupRepository.OpenAsync(new S3Store("s3://bench/ship", new S3Options { Endpoint = endpoint, Region = "us-east-1", PathStyle = true })).GetAwaiter().GetResult();
            var (rate, lags) = Shipped(url, seconds, maxLag, s3);
            rows.Add(Row("S3 (moto, loopback)", without, rate, lags, maxLag));
        }
        finally
        {
            moto.Kill(entireProcessTree: true);
            moto.WaitForExit(10_000);
        }
        Console.WriteLine($"| repository | --max-lag | puts/s without shipping | puts/s shipping | ratio | lag p50 | lag p99 | lag max | commits |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        rows.ForEach(Console.WriteLine);
    }

    private static string Row(string what, double without, double with, List<double> lags, TimeSpan maxLag)
    {
        lags.Sort();
        return string.Create(CultureInfo.InvariantCulture,
            $"| {what} | {maxLag.TotalSeconds:0} s | {without:N0} | {with:N0} | {with / without:0.00} | {P(lags, 0.5):0.00} s | {P(lags, 0.99):0.00} s | {lags[^1]:0.00} s | {lags.Count:N0} |");
    }

    private static (double Rate, List<double> Lags) Shipped(string url, double seconds, TimeSpan maxLag, BackupRepository repo)
    {
        using var client = new BluebackClient(url);
        var shipper = new LogShipper(client, repo, new ShipOptions("store", maxLag));
        var shippedAt = new List<(uint Generation, DateTime At)>();
        shipper.Shipped += s =>
        {
            lock (shippedAt)
            {
                shippedAt.Add((s.Generation, DateTime.UtcNow));
            }
        };
        using var stop = new CancellationTokenSource();
        var running = Task.Run(() => shipper.RunAsync(stop.Token));
        // What the rounds without a shipper wrote is shipped first (it was kept for the shipper): the measured run
        // starts with nothing waiting.
        var caughtUp = Stopwatch.StartNew();
        while (caughtUp.Elapsed < TimeSpan.FromMinutes(5))
        {
            var st = client.StatusAsync().GetAwaiter().GetResult().Instances.Single(i => i.Name == "store").Shipping;
            if (st is { UnshippedGenerations: 0, ShipperConnected: true })
            {
                break;
            }
            Thread.Sleep(200);
        }
        lock (shippedAt)
        {
            shippedAt.Clear();
        }
        double rate = Load(url, seconds, out var acks);
        Thread.Sleep(maxLag * 2); // the last commits ship too
        stop.Cancel();
        try
        {
            running.Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException ex) when (ex.InnerException is OperationCanceledException)
        {
            // stopped
        }
        var lags = new List<double>();
        lock (shippedAt)
        {
            foreach (var (gen, at) in acks)
            {
                var durable = shippedAt.FirstOrDefault(s => s.Generation >= gen);
                if (durable.At != default)
                {
                    lags.Add((durable.At - at).TotalSeconds);
                }
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"shipping into {repo.Store.Location}: {rate:N0} puts/s, {shippedAt.Count} generations shipped, {lags.Count} of {acks.Count} commits durable"));
        return (rate, lags);
    }

    /// <summary>16 writers of 1 KiB puts for <paramref name="seconds"/> (after 2 s of warm-up); the puts/s, and
    /// each measured commit's generation and acknowledgement time.</summary>
    private static double Load(string url, double seconds, out List<(uint Generation, DateTime At)> acks)
    {
        using var client = new BluebackClient(url);
        var all = new List<(uint, DateTime)>();
        long count = 0;
        var value = new string('v', 1024);
        var measuring = DateTime.UtcNow.AddSeconds(2);
        var end = measuring.AddSeconds(seconds);
        var tasks = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var mine = new List<(uint, DateTime)>();
            for (long i = 0; DateTime.UtcNow < end; i++)
            {
                var point = await client.BatchAsync("store", new BatchRequest { Ops = [new BatchOp { Op = "put", Database = "mailbox", Table = "ship", Key = $"w{w}-{i}", Value = value }] });
                var now = DateTime.UtcNow;
                if (now >= measuring)
                {
                    Interlocked.Increment(ref count);
                    mine.Add((uint.Parse(point.Lsn.AsSpan(0, point.Lsn.IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture), now));
                }
            }
            lock (all)
            {
                all.AddRange(mine);
            }
        })).ToArray();
        Task.WaitAll(tasks);
        acks = all;
        return count / seconds;
    }

    private static double P(List<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
}
