using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Blueback.Bench;

/// <summary>A full backup by the backup program (`blueback backup`, zstd-1, into a local repository) beside
/// `pg_basebackup -Fp -X stream --manifest-checksums=CRC32C` of a PostgreSQL 15 cluster holding the same volume of
/// data, and `cp -r` + `sync -f` of the Blueback instance's files, alternating, better of two; each tool both cold
/// (its source dropped from the page cache first) and warm (its source read just before), so that no figure
/// depends on what the kernel happened to keep. Wall time, CPU (user + system) and peak memory come from
/// /usr/bin/time around each process.</summary>
internal static class BaseBackupBench
{
    internal sealed record Measured(double Seconds, double CpuSeconds, long PeakKiB, long Bytes, long Stored);

    public static void Run(string root, string data, string url, long bytes)
    {
        var source = Path.Combine(data, "store");
        long instanceBytes = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        var pgDir = Path.Combine(root, "pg");
        int port = Postgres.InitAndStart(pgDir);
        try
        {
            // The same volume of data: rows of 4 KiB, stored without compression (EXTERNAL), like the instance's.
            Postgres.Sql(pgDir, port, "CREATE TABLE t (k bigint PRIMARY KEY, v bytea NOT NULL); ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL");
            long rows = bytes / 4096;
            for (long i = 0; i < rows; i += 50_000)
            {
                Postgres.Sql(pgDir, port, $"INSERT INTO t SELECT g, decode(repeat(md5(g::text), 256), 'hex') FROM generate_series({i}, {Math.Min(rows, i + 50_000) - 1}) g");
            }
            Postgres.Sql(pgDir, port, "CHECKPOINT");
            long pgBytes = long.Parse(Postgres.Sql(pgDir, port, "SELECT sum(pg_database_size(datname))::bigint FROM pg_database").Trim(), CultureInfo.InvariantCulture);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"base backup bench: Blueback instance {instanceBytes >> 20} MiB on disk, PostgreSQL cluster {pgBytes >> 20} MiB"));

            var pgData = Path.Combine(pgDir, "data");
            // Each tool runs twice per round: with its source files dropped from the page cache (cold: what a
            // backup of a database nobody read lately meets) and read just before (warm). Best of rounds 1 and 2.
            var best = new Dictionary<(string Tool, bool Warm), Measured>();
            void Keep(string tool, bool warm, Measured m)
            {
                if (!best.TryGetValue((tool, warm), out var old) || m.Bytes / m.Seconds > old.Bytes / old.Seconds)
                {
                    best[(tool, warm)] = m;
                }
            }
            double dd = 0;
            for (int round = 0; round < 3; round++)
            {
                foreach (bool warm in new[] { false, true })
                {
                    PageCache.Prepare(source, warm);
                    var b = BluebackBackup(root, url, round, compress: true);
                    PageCache.Prepare(source, warm);
                    var bRaw = BluebackBackup(root, url, round, compress: false);

                    var target = Path.Combine(root, $"pg-base-{round}");
                    Directory.CreateDirectory(target);
                    Shell.Run("chown", "postgres:postgres", target);
                    PageCache.Prepare(pgData, warm);
                    var p = Timed(out _, "runuser", "-u", "postgres", "--", Path.Combine(Postgres.Bin, "pg_basebackup"), "-h", pgDir, "-p", port.ToString(CultureInfo.InvariantCulture),
                        "-D", target, "-Fp", "-X", "stream", "--manifest-checksums=CRC32C", "-c", "fast");
                    long pgCopied = Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
                    p = p with { Bytes = pgCopied, Stored = pgCopied };
                    Directory.Delete(target, recursive: true);

                    var cpTarget = Path.Combine(root, $"cp-{round}");
                    // Counted now, not once before the rounds: each full backup truncates the instance's logs, so the
                    // files cp copies shrink after round 0 (counting them once overstated cp's rate about twice).
                    long cpBytes = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
                    PageCache.Prepare(source, warm);
                    var sw = Stopwatch.StartNew();
                    Shell.Run("cp", "-r", source, cpTarget);
                    Shell.Run("sync", "-f", cpTarget);
                    var cp = new Measured(sw.Elapsed.TotalSeconds, 0, 0, cpBytes, cpBytes);
                    Directory.Delete(cpTarget, recursive: true);
                    if (round == 0)
                    {
                        continue; // warms the JIT and both servers
                    }
                    Keep("blueback", warm, b);
                    Keep("blueback-raw", warm, bRaw);
                    Keep("pg", warm, p);
                    Keep("cp", warm, cp);
                }
                PageCache.Drop(source);
                double ddRate = Shell.DirectCopyRate(Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories), Path.Combine(root, $"dd-{round}"));
                dd = round == 0 ? dd : Math.Max(dd, ddRate);
            }
            Report(best, dd, bytes);
        }
        finally
        {
            Postgres.Stop(Path.Combine(pgDir, "data"));
        }
    }

    private static void Report(Dictionary<(string Tool, bool Warm), Measured> best, double dd, long dataBytes)
    {
        var ci = CultureInfo.InvariantCulture;
        string Rate(string tool, bool warm) => string.Create(ci, $"{best[(tool, warm)].Bytes / best[(tool, warm)].Seconds / 1e6:0}");
        string Cpu(string tool) => string.Create(ci, $"{best[(tool, true)].CpuSeconds / (best[(tool, true)].Bytes / 1e9):0.00}");
        Console.WriteLine("Rates are each tool's own bytes per second; the seconds are for the same data in both systems.");
        Console.WriteLine("| tool | cold MB/s | warm MB/s | cold s | warm s | CPU s per GB (warm) | peak memory | stored / raw |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (tool, name) in new[] { ("blueback", "blueback backup (zstd-1, local repository)"), ("blueback-raw", "blueback backup --no-compress"), ("pg", "pg_basebackup -Fp -X stream, CRC32C manifest"), ("cp", "cp -r + sync -f of the instance's files") })
        {
            var w = best[(tool, true)];
            string extra = tool == "cp" ? "| | |" : string.Create(ci, $"{Cpu(tool)} | {w.PeakKiB / 1024} MiB | {(double)w.Stored / w.Bytes:0.000} |");
            Console.WriteLine(string.Create(ci, $"| {name} | {Rate(tool, false)} | {Rate(tool, true)} | {best[(tool, false)].Seconds:0.00} | {w.Seconds:0.00} | {extra}"));
        }
        Console.WriteLine(string.Create(ci, $"| dd oflag=direct conv=fsync of the same files, cold (the disk) | {dd / 1e6:0} | | | | | | |"));
        foreach (bool warm in new[] { false, true })
        {
            var b = best[("blueback", warm)];
            var p = best[("pg", warm)];
            var c = best[("cp", warm)];
            Console.WriteLine(string.Create(ci, $"{(warm ? "warm" : "cold")}: blueback / pg_basebackup {b.Bytes / b.Seconds / (p.Bytes / p.Seconds):0.00} in MB/s (target 2.00), {p.Seconds / b.Seconds:0.00} in time for the same {dataBytes >> 20} MiB of rows; blueback / cp {b.Bytes / b.Seconds / (c.Bytes / c.Seconds):0.00} (target 0.70)"));
        }
    }

    /// <summary>One full backup by the backup program into a fresh local repository, removed afterwards.</summary>
    private static Measured BluebackBackup(string root, string url, int round, bool compress)
    {
        var repo = Path.Combine(root, $"bb-repo-{round}");
        Shell.Blueback("repo", "init", repo);
        var b = Timed(out var output, "dotnet", [Path.Combine(AppContext.BaseDirectory, "blueback.dll"), "backup", "--server", url, "--repo", repo, "--json", .. compress ? Array.Empty<string>() : ["--no-compress"]]);
        var json = JsonDocument.Parse(output).RootElement;
        Directory.Delete(repo, recursive: true);
        return b with { Bytes = json.GetProperty("bytes").GetInt64(), Stored = json.GetProperty("stored").GetInt64() };
    }

    /// <summary>Runs a process under /usr/bin/time: wall seconds, user + system CPU seconds, peak resident memory.</summary>
    internal static Measured Timed(out string output, string file, params string[] args)
    {
        var stats = Path.GetTempFileName();
        var sw = Stopwatch.StartNew();
        output = Shell.Run("/usr/bin/time", ["-o", stats, "-f", "%U %S %M", file, .. args]);
        double seconds = sw.Elapsed.TotalSeconds;
        var f = File.ReadAllText(stats).Trim().Split('\n')[^1].Split(' ');
        File.Delete(stats);
        return new Measured(seconds, double.Parse(f[0], CultureInfo.InvariantCulture) + double.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture), 0, 0);
    }
}
