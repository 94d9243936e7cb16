using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Blueback.Client;
using Blueback.Storage;

namespace Blueback.Bench;

/// <summary>Online backup over loopback beside `cat` of the same files; writers with and without a backup;
/// cancel-to-return times.</summary>
internal static class BackupBench
{
    /// <summary>The server's program: this build's, or BLUEBACK_BENCH_SERVER_CLI (another build's blueback.dll, to
    /// run the same bench against it side by side).</summary>
    private static string Cli => Environment.GetEnvironmentVariable("BLUEBACK_BENCH_SERVER_CLI") is { Length: > 0 } other ? other : Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    public static void Run(string root, long bytes, double seconds, bool restoreOnly = false, Action<string, string, string>? instead = null)
    {
        var data = Path.Combine(root, "backup-data");
        Console.WriteLine($"backup bench: loading {bytes >> 20} MiB into store/mailbox");
        using (var inst = StorageInstance.Create(Path.Combine(data, "store"), new InstanceOptions { LogGenerationSize = 16 << 20 }))
        {
            var db = inst.CreateDatabase("mailbox");
            inst.CreateDatabase("public");
            var value = new byte[4096];
            var rng = new Random(3);
            for (long i = 0; i < bytes / value.Length;)
            {
                using var tx = inst.BeginWrite();
                for (int j = 0; j < 1000 && i < bytes / value.Length; j++, i++)
                {
                    rng.NextBytes(value);
                    tx.Put(db, "t", Encoding.UTF8.GetBytes($"k{i:D10}"), value);
                }
                tx.Commit(CommitMode.Lazy);
            }
        }
        // BLUEBACK_BENCH_SERVER_CONFIG: a server configuration file to try settings with (backupBusyRateMBps, backupReadNice).
        string[] config = Environment.GetEnvironmentVariable("BLUEBACK_BENCH_SERVER_CONFIG") is { Length: > 0 } file ? ["--config", file] : [];
        using var server = Process.Start(new ProcessStartInfo("dotnet", [Cli, "serve", "--data", data, "--listen", "http://127.0.0.1:0", "--admin-token-file", BenchToken.File, .. config]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        string? url = null;
        for (var line = server.StandardOutput.ReadLine(); line is not null && !line.StartsWith("Ready.", StringComparison.Ordinal); line = server.StandardOutput.ReadLine())
        {
            if (line.StartsWith("Listening on ", StringComparison.Ordinal))
            {
                url = line["Listening on ".Length..];
            }
        }
        try
        {
            if (restoreOnly)
            {
                RestoreBench.Run(root, data, url!);
                return;
            }
            if (instead is not null)
            {
                instead(root, data, url!);
                return;
            }
            using var c = new BluebackClient(url!);
            var files = Directory.EnumerateFiles(Path.Combine(data, "store"), "*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".bdb", StringComparison.Ordinal) || f.EndsWith(".log", StringComparison.Ordinal)).ToList();
            double cat = 0, backup = 0;
            long backupBytes = 0;
            for (int round = 0; round < 3; round++)
            {
                // Round 0 warms both (page cache, JIT); rounds 1 and 2 alternate and keep the better.
                var (catRate, _) = Cat(files);
                var (rate, n) = FullBackup(c);
                if (round > 0)
                {
                    cat = Math.Max(cat, catRate);
                    backup = Math.Max(backup, rate);
                    backupBytes = n;
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"backup over loopback: {backup / 1e6:0} MB/s ({backupBytes >> 20} MiB of images and logs), cat of the same files: {cat / 1e6:0} MB/s, ratio {backup / cat:0.00}"));
            // The reference the read path is held to: one loopback TCP connection from memory to a reader that
            // discards, in the same run (bench/socket-ceiling.py).
            double socket = SocketCeiling();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"read path (client discarding, one stream, every page checked): {backup / 1e6:0} MB/s against the loopback TCP ceiling {socket / 1e6:0} MB/s: {backup / socket:0.00} (target 0.80)"));
            // Parallel streams: each image read as 8 MiB parts over 2 and 4 connections (what `blueback backup` does by
            // default with 2), alternating with one stream, the better of two rounds each.
            var rates = new Dictionary<int, double> { [1] = 0, [2] = 0, [4] = 0 };
            var cpu = new Dictionary<int, (double Server, double Client)>();
            for (int round = 0; round < 2; round++)
            {
                foreach (var n in rates.Keys.ToList())
                {
                    // Where the cores go: CPU seconds of the server and of this (discarding) client per GB read.
                    double server0 = CpuSeconds(server.Id), client0 = CpuSeconds(Environment.ProcessId);
                    var (rate, read) = FullBackup(c, streams: n);
                    cpu[n] = ((CpuSeconds(server.Id) - server0) / (read / 1e9), (CpuSeconds(Environment.ProcessId) - client0) / (read / 1e9));
                    rates[n] = Math.Max(rates[n], rate);
                }
            }
            double socket2 = SocketCeiling();
            foreach (var (n, rate) in rates)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"read path, {n} stream(s) per image: {rate / 1e6:0} MB/s against the loopback TCP ceiling {Math.Max(socket, socket2) / 1e6:0} MB/s (better of two runs): {rate / Math.Max(socket, socket2):0.00} (target 0.80); CPU per GB: server {cpu[n].Server:0.00} s, client {cpu[n].Client:0.00} s"));
            }

            // Alternating, twice; the better of each (the writers' own rate moves by about 10% from run to run here).
            double without = 0, with = 0, backupDuring = 0;
            for (int round = 0; round < 2; round++)
            {
                without = Math.Max(without, Writers(url!, seconds, withBackup: false).Puts);
                var (puts, backupRate) = Writers(url!, seconds, withBackup: true);
                if (puts > with)
                {
                    (with, backupDuring) = (puts, backupRate);
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"writers (16, durable 1 KiB puts over HTTP): {without:N0}/s without a backup, {with:N0}/s during backups, kept {with / without:0.00}; the backups meanwhile: {backupDuring / 1e6:0} MB/s"));

            var (returns, clean) = Cancels(c, 100);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cancel-to-return over 100 points: p50 {P(returns, 0.5):0.0} ms, p99 {P(returns, 0.99):0.0} ms, max {returns[^1]:0.0} ms; server clean after the cancel: p50 {P(clean, 0.5):0.0} ms, p99 {P(clean, 0.99):0.0} ms, max {clean[^1]:0.0} ms"));
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(30_000);
        }
    }

    /// <summary>User and system CPU seconds a process has used so far (/proc/PID/stat).</summary>
    internal static double CpuSeconds(int pid)
    {
        var fields = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0; // utime, stime in clock ticks (USER_HZ 100)
    }

    /// <summary>The better of socket-ceiling.py's two TCP loopback figures, in bytes per second.</summary>
    private static double SocketCeiling()
    {
        var script = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../socket-ceiling.py"));
        var output = Shell.Run("python3", script);
        return output.Split('\n').Where(l => l.StartsWith("tcp loopback ", StringComparison.Ordinal))
            .Select(l => double.Parse(l["tcp loopback ".Length..].Split(' ')[0], CultureInfo.InvariantCulture) * 1e6).Max();
    }

    private static double P(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];

    private static (double Rate, long Bytes) Cat(List<string> files)
    {
        var sw = Stopwatch.StartNew();
        long total = files.Sum(f => new FileInfo(f).Length);
        var psi = new ProcessStartInfo("sh", ["-c", "cat \"$@\" > /dev/null", "cat", .. files]) { UseShellExecute = false };
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return (total / sw.Elapsed.TotalSeconds, total);
    }

    private static (double Rate, long Bytes) FullBackup(BluebackClient c, StrongBox<long>? counter = null, int streams = 1)
    {
        return Task.Run(async () =>
        {
            var sw = Stopwatch.StartNew();
            long n = 0;
            var buffer = new byte[1 << 20];
            await using var s = await c.BeginBackupAsync("store", "copy");
            foreach (var db in s.Databases)
            {
                await using var image = streams > 1 && db.ImageSize > Backup.BackupRequest.PartSize
                    ? (Stream)new ParallelImageStream(s, db.Name, db.ImageSize, Backup.BackupRequest.PartSize, streams)
                    : await s.OpenDatabaseImageAsync(db.Name);
                int r;
                while ((r = await image.ReadAsync(buffer)) > 0)
                {
                    n += r;
                    if (counter is not null)
                    {
                        Interlocked.Add(ref counter.Value, r);
                    }
                }
            }
            foreach (var g in (await s.ListLogsAsync()).Generations)
            {
                await using var log = await s.OpenLogAsync(g.Generation);
                int r;
                while ((r = await log.ReadAsync(buffer)) > 0)
                {
                    n += r;
                    if (counter is not null)
                    {
                        Interlocked.Add(ref counter.Value, r);
                    }
                }
            }
            await s.EndAsync();
            return (n / sw.Elapsed.TotalSeconds, n);
        }).GetAwaiter().GetResult();
    }

    /// <summary>Puts per second by 16 writers over <paramref name="seconds"/>; with back-to-back backups running,
    /// also the backups' MB/s in the same window (what the backups still get while writers have priority).</summary>
    private static (double Puts, double BackupRate) Writers(string url, double seconds, bool withBackup)
    {
        var backed = new StrongBox<long>();
        var clock = Stopwatch.StartNew();
        double puts = WriterLoad.PutsPerSecond(url, seconds, !withBackup ? null : async ct =>
        {
            using var c = new BluebackClient(url);
            while (!ct.IsCancellationRequested)
            {
                await Task.Run(() => FullBackup(c, backed));
            }
        });
        return (puts, Interlocked.Read(ref backed.Value) / clock.Elapsed.TotalSeconds);
    }

    private static (List<double> Returns, List<double> Clean) Cancels(BluebackClient c, int points)
    {
        return Task.Run(async () =>
        {
            var rng = new Random(5);
            var returns = new List<double>();
            var clean = new List<double>();
            var buffer = new byte[256 * 1024];
            for (int i = 0; i < points; i++)
            {
                using var cts = new CancellationTokenSource();
                var run = Task.Run(async () =>
                {
                    await using var s = await c.BeginBackupAsync("store", "copy", cts.Token);
                    foreach (var db in s.Databases)
                    {
                        await using var image = await s.OpenDatabaseImageAsync(db.Name, cts.Token);
                        while (await image.ReadAsync(buffer, cts.Token) > 0)
                        {
                        }
                    }
                    foreach (var g in (await s.ListLogsAsync(cts.Token)).Generations)
                    {
                        await using var log = await s.OpenLogAsync(g.Generation, cts.Token);
                        while (await log.ReadAsync(buffer, cts.Token) > 0)
                        {
                        }
                    }
                    await s.EndAsync(cts.Token);
                });
                await Task.Delay(rng.Next(0, 500));
                var sw = Stopwatch.StartNew();
                cts.Cancel();
                try
                {
                    await run;
                }
                catch (OperationCanceledException)
                {
                }
                returns.Add(sw.Elapsed.TotalMilliseconds);
                while ((await c.StatusAsync()).Instances.Any(x => x.BackupInProgress))
                {
                    await Task.Delay(1);
                }
                clean.Add(sw.Elapsed.TotalMilliseconds);
            }
            returns.Sort();
            clean.Sort();
            return (returns, clean);
        }).GetAwaiter().GetResult();
    }
}
