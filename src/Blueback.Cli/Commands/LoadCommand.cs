using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback load</c>: concurrent writers through the data API; ops/s and latency percentiles.</summary>
internal static class LoadCommand
{
    public static Command Build()
    {
        var server = new Option<string>("--server") { Description = "Server address: http://HOST:PORT or unix:/path.sock.", DefaultValueFactory = _ => "http://127.0.0.1:7420" };
        var instance = new Option<string>("--instance") { Description = "Instance to write to.", DefaultValueFactory = _ => "store" };
        var database = new Option<string>("--database") { Description = "Database to write to.", DefaultValueFactory = _ => "mailbox" };
        var table = new Option<string>("--table") { Description = "Table to write to.", DefaultValueFactory = _ => "load" };
        var writers = new Option<int>("--writers") { Description = "Concurrent writers.", DefaultValueFactory = _ => 16 };
        var seconds = new Option<double?>("--seconds") { Description = "Run this long (default 10 s unless --ops)." };
        var ops = new Option<long?>("--ops") { Description = "Stop after this many puts in all." };
        var valueSize = new Option<int>("--value-size") { Description = "Bytes per value.", DefaultValueFactory = _ => 1024 };
        var batch = new Option<int>("--batch") { Description = "Puts per request: 1 uses PUT, more use one atomic batch.", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var ackFile = new Option<string?>("--ack-file") { Description = "Append each acknowledged key to this file (for crash checks)." };
        var warmup = new Option<double>("--warmup") { Description = "Seconds of load before measuring (JIT and caches warm up; not counted).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("load", "Write through the data API with concurrent writers and report throughput and latency.")
            { server, instance, database, table, writers, seconds, ops, valueSize, batch, json, ackFile, warmup };
        var tokens = new TokenOptions();
        tokens.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            var settings = new LoadSettings(pr.GetValue(server)!, tokens.Resolve(pr), tokens.Trust(pr), pr.GetValue(instance)!, pr.GetValue(database)!, pr.GetValue(table)!,
                Math.Max(1, pr.GetValue(writers)), pr.GetValue(ops) is null ? pr.GetValue(seconds) ?? 10 : pr.GetValue(seconds),
                pr.GetValue(ops), Math.Max(0, pr.GetValue(valueSize)), Math.Clamp(pr.GetValue(batch), 1, Routes.Limits.MaxBatchOps), pr.GetValue(ackFile), Math.Max(0, pr.GetValue(warmup)));
            if (settings.ValueSize * (long)settings.Batch > Routes.Limits.MaxBatchBodyBytes / 2)
            {
                Console.Error.WriteLine("blueback load: --value-size times --batch is too large for one request; lower one of them. ('blueback load --help' lists the options.)");
                return Output.Usage;
            }
            if (settings.Warmup > 0)
            {
                await RunAsync(settings with { Seconds = settings.Warmup, Ops = null, AckFile = null }, signals.Token).ConfigureAwait(false);
            }
            var result = await RunAsync(settings, signals.Token).ConfigureAwait(false);
            if (pr.GetValue(json))
            {
                Output.WriteJson(result);
            }
            else
            {
                Console.WriteLine($"load: {result.Ops:N0} puts in {result.Seconds:0.0} s = {result.OpsPerSecond:N0} puts/s ({result.BytesPerSecond / 1e6:0.0} MB/s of values), {result.Requests:N0} requests");
                Console.WriteLine($"      latency per request: p50 {result.LatencyMs.P50:0.00} ms, p95 {result.LatencyMs.P95:0.00} ms, p99 {result.LatencyMs.P99:0.00} ms, max {result.LatencyMs.Max:0.00} ms; errors {result.Errors}");
                if (result.FirstError is not null)
                {
                    Console.WriteLine($"      first error: {result.FirstError}");
                }
            }
            return signals.Signalled ? Output.Cancelled : result.Errors > 0 ? Output.Failed : Output.Ok;
        });
        return cmd;
    }

    private sealed record LoadSettings(string Server, string? Token, Client.ServerTrust? Trust, string Instance, string Database, string Table, int Writers, double? Seconds, long? Ops, int ValueSize, int Batch, string? AckFile, double Warmup);

    internal sealed record Latency(double P50, double P95, double P99, double Max);

    internal sealed record LoadResult(long Ops, long Requests, double Seconds, double OpsPerSecond, double BytesPerSecond, Latency LatencyMs, long Errors, string? FirstError);

    private static async Task<LoadResult> RunAsync(LoadSettings s, CancellationToken cancel)
    {
        using var client = new BluebackClient(s.Server, TimeSpan.FromSeconds(30), s.Token, s.Trust);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        if (s.Seconds is { } secs)
        {
            stop.CancelAfter(TimeSpan.FromSeconds(secs));
        }
        StreamWriter? acks = s.AckFile is null ? null : new StreamWriter(s.AckFile, append: true) { AutoFlush = true };
        var ackLock = new Lock();
        long ops = 0, requests = 0, errors = 0, budget = s.Ops ?? long.MaxValue;
        string? firstError = null;
        var latencies = new List<double>[s.Writers];
        var runId = DateTime.UtcNow.Ticks.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        var sw = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, s.Writers).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<double>();
            var value = new byte[s.ValueSize];
            Random.Shared.NextBytes(value);
            for (long seq = 0; !stop.IsCancellationRequested; seq += s.Batch)
            {
                if (Interlocked.Add(ref budget, -s.Batch) < 0)
                {
                    break;
                }
                var keys = Enumerable.Range(0, s.Batch).Select(i => $"{runId}-w{w:D3}-{seq + i:D10}").ToList();
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    if (s.Batch == 1)
                    {
                        await client.PutAsync(s.Instance, s.Database, s.Table, Encoding.UTF8.GetBytes(keys[0]), value, stop.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        await client.BatchPutSameValueAsync(s.Instance, s.Database, s.Table, keys, value, stop.Token).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex) when (ex is HttpRequestException or BluebackApiException or IOException or TaskCanceledException)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, ex.Message, null);
                    await Task.Delay(50, CancellationToken.None).ConfigureAwait(false); // a server that went away: do not spin
                    continue;
                }
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                Interlocked.Add(ref ops, s.Batch);
                Interlocked.Increment(ref requests);
                if (acks is not null)
                {
                    lock (ackLock)
                    {
                        foreach (var k in keys)
                        {
                            acks.WriteLine(k);
                        }
                    }
                }
            }
        }, CancellationToken.None)).ToArray();
        await Task.WhenAll(tasks).ConfigureAwait(false);
        double elapsed = sw.Elapsed.TotalSeconds;
        acks?.Dispose();
        var all = latencies.Where(l => l is not null).SelectMany(l => l).Order().ToArray();
        double P(double q) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        return new LoadResult(ops, requests, elapsed, ops / elapsed, ops * (double)s.ValueSize / elapsed,
            new Latency(P(0.50), P(0.95), P(0.99), all.Length == 0 ? 0 : all[^1]), errors, firstError);
    }
}
