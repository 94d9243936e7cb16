using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Blueback.Bench;

/// <summary>A full backup by the backup program (`blueback backup`, zstd-1, into a local repository) beside
/// `pg_basebackup -Fp -X stream --manifest-checksums=CRC32C` of a PostgreSQL 15 cluster holding the same volume of
/// data, and `cp -r` + `sync -f` of the Blueback instance's files (the disk's copy rate), alternating, better of two.
/// Wall time, CPU (user + system) and peak memory come from /usr/bin/time around each process.</summary>
internal static class BaseBackupBench
{
    private sealed record Measured(double Seconds, double CpuSeconds, long PeakKiB, long Bytes, long Stored);

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

            Measured? bb = null, bbRaw = null, pg = null;
            double cp = 0, dd = 0;
            for (int round = 0; round < 3; round++)
            {
                var b = BluebackBackup(root, url, round, compress: true);
                var bRaw = BluebackBackup(root, url, round, compress: false);

                var target = Path.Combine(root, $"pg-base-{round}");
                Directory.CreateDirectory(target);
                Shell.Run("chown", "postgres:postgres", target);
                var p = Timed(out _, "runuser", "-u", "postgres", "--", Path.Combine(Postgres.Bin, "pg_basebackup"), "-h", pgDir, "-p", port.ToString(CultureInfo.InvariantCulture),
                    "-D", target, "-Fp", "-X", "stream", "--manifest-checksums=CRC32C", "-c", "fast");
                long pgCopied = Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
                p = p with { Bytes = pgCopied, Stored = pgCopied };
                Directory.Delete(target, recursive: true);

                var cpTarget = Path.Combine(root, $"cp-{round}");
                // Counted now, not once before the rounds: each full backup truncates the instance's logs, so the
                // files cp copies shrink after round 0 (counting them once overstated cp's rate about twice).
                long cpBytes = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
                var sw = Stopwatch.StartNew();
                Shell.Run("cp", "-r", source, cpTarget);
                Shell.Run("sync", "-f", cpTarget);
                double cpRate = cpBytes / sw.Elapsed.TotalSeconds;
                Directory.Delete(cpTarget, recursive: true);
                double ddRate = Shell.DirectCopyRate(Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories), Path.Combine(root, $"dd-{round}"));
                if (round == 0)
                {
                    continue; // warms the page cache, the JIT and both servers
                }
                if (bb is null || b.Bytes / b.Seconds > bb.Bytes / bb.Seconds)
                {
                    bb = b;
                }
                if (bbRaw is null || bRaw.Bytes / bRaw.Seconds > bbRaw.Bytes / bbRaw.Seconds)
                {
                    bbRaw = bRaw;
                }
                if (pg is null || p.Bytes / p.Seconds > pg.Bytes / pg.Seconds)
                {
                    pg = p;
                }
                cp = Math.Max(cp, cpRate);
                dd = Math.Max(dd, ddRate);
            }
            double bbRate = bb!.Bytes / bb.Seconds, pgRate = pg!.Bytes / pg.Seconds;
            Console.WriteLine("| tool | MB/s | CPU s per GB | peak memory | stored / raw |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| blueback backup (zstd-1, local repository) | {bbRate / 1e6:0} | {bb.CpuSeconds / (bb.Bytes / 1e9):0.00} | {bb.PeakKiB / 1024} MiB | {(double)bb.Stored / bb.Bytes:0.000} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| blueback backup --no-compress (local repository) | {bbRaw!.Bytes / bbRaw.Seconds / 1e6:0} | {bbRaw.CpuSeconds / (bbRaw.Bytes / 1e9):0.00} | {bbRaw.PeakKiB / 1024} MiB | {(double)bbRaw.Stored / bbRaw.Bytes:0.000} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| pg_basebackup -Fp -X stream, CRC32C manifest | {pgRate / 1e6:0} | {pg.CpuSeconds / (pg.Bytes / 1e9):0.00} | {pg.PeakKiB / 1024} MiB | 1.000 |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| cp -r + sync -f of the instance's files | {cp / 1e6:0} | | | |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| dd oflag=direct conv=fsync of the same files (the disk) | {dd / 1e6:0} | | | |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"blueback / pg_basebackup {bbRate / pgRate:0.00} (target 2.00); blueback / cp {bbRate / cp:0.00} (target 0.70); blueback / dd {bbRate / dd:0.00}"));
        }
        finally
        {
            Postgres.Stop(Path.Combine(pgDir, "data"));
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
    private static Measured Timed(out string output, string file, params string[] args)
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
