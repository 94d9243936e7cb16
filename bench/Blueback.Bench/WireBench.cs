using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Blueback.Storage;
using Measured = Blueback.Bench.BaseBackupBench.Measured;

namespace Blueback.Bench;

/// <summary>Remote backups over a shaped link, and local ones, beside PostgreSQL's best modes: `blueback backup` run on
/// a second host (a network namespace behind a veth pair shaped to 1 Gbit/s both ways) against
/// `pg_basebackup -Ft --compress=server-zstd:1` from the same host; a second full of the unchanged instance (reading
/// every page, then with --skip-unchanged); and on
/// loopback (at the default, which compresses in the program there, and with --compress server) against
/// `pg_basebackup -Ft --compress=client-zstd:1`, with each side's CPU. Both hold the same rows: 4 KiB
/// values, every other one 16 bytes repeated (compressible about 100-fold) and the rest random (incompressible), so
/// about 2:1 in all. Alternating, cold (sources dropped from the page cache) and warm, round 0 a warm-up, the better of
/// rounds 1 and 2 kept.</summary>
internal static class WireBench
{
    /// <summary>The program as installed (`dotnet publish`, ReadyToRun: no JIT at start) when BLUEBACK_BENCH_CLI names
    /// its blueback.dll; else the harness's own build.</summary>
    private static string Cli => Environment.GetEnvironmentVariable("BLUEBACK_BENCH_CLI") ?? Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    /// <summary>Only the bench's Blueback instance (its rows, half compressible) in <paramref name="data"/>, for the CPU
    /// harness (<c>bench/cpu/backup-cpu.sh</c>), which needs data that compresses like the wire bench's.</summary>
    public static void LoadOnly(string data, long bytes) => Load(data, bytes / 4096);

    public static void Run(string root, long bytes, string rate)
    {
        long rows = bytes / 4096;
        var data = Path.Combine(root, "wire-data");
        Load(data, rows);
        using var link = ShapedLink.Create(rate);
        var pgDir = Path.Combine(root, "wire-pg");
        int port = Postgres.InitAndStart(pgDir, $"-c listen_addresses='127.0.0.1,{link.HostAddress}'");
        var pgData = Path.Combine(pgDir, "data");
        File.AppendAllText(Path.Combine(pgData, "pg_hba.conf"), $"\nhost all all {link.Network} trust\nhost replication all {link.Network} trust\nhost replication all 127.0.0.1/32 trust\n");
        Postgres.Tool("pg_ctl", "-D", pgData, "reload");
        var (started, urls) = BenchProcess.StartListening("dotnet", [Cli, "serve", "--data", data, "--insecure-listen"], ["http://127.0.0.1:0", $"http://{link.HostAddress}:0"]);
        using var server = started;
        try
        {
            LoadPostgres(pgDir, port, rows);
            long pgBytes = long.Parse(Postgres.Sql(pgDir, port, "SELECT sum(pg_database_size(datname))::bigint FROM pg_database").Trim(), CultureInfo.InvariantCulture);
            var source = Path.Combine(data, "store");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wire bench: {rows} rows of 4 KiB (half compressible), link {rate}; Blueback instance {DirBytes(source) >> 20} MiB, PostgreSQL cluster {pgBytes >> 20} MiB"));
            var local = urls.Single(u => u.Contains("127.0.0.1", StringComparison.Ordinal));
            var remote = urls.Single(u => u.Contains(link.HostAddress, StringComparison.Ordinal));
            var best = new Dictionary<(string Row, bool Warm), Measured>();
            void Keep(string row, bool warm, Measured m)
            {
                if (!best.TryGetValue((row, warm), out var old) || m.Seconds < old.Seconds)
                {
                    best[(row, warm)] = m;
                }
            }
            for (int round = 0; round < 3; round++)
            {
                foreach (bool warm in new[] { false, true })
                {
                    var repo = Path.Combine(root, $"wire-repo-{round}-{warm}");
                    PageCache.Prepare(source, warm);
                    var first = Blueback(link, remote, repo, server.Id);
                    PageCache.Prepare(source, warm);
                    var second = Blueback(link, remote, repo, server.Id);
                    PageCache.Prepare(repo, warm);
                    var restore = OnlineRestore(link, remote, repo, $"wire-restored-{round}-{(warm ? "warm" : "cold")}", server.Id);
                    PageCache.Prepare(source, warm);
                    var skip = Blueback(link, remote, repo, server.Id, "--skip-unchanged");
                    Directory.Delete(repo, recursive: true);
                    PageCache.Prepare(source, warm);
                    var four = Blueback(link, remote, repo, server.Id, "--streams", "4");
                    Directory.Delete(repo, recursive: true);
                    PageCache.Prepare(pgData, warm);
                    var pgRemote = PgBaseBackup(root, link, link.HostAddress, port, "server-zstd:1", pgData, pgBytes);
                    PageCache.Prepare(source, warm);
                    var loop = Blueback(null, local, repo, server.Id);
                    Directory.Delete(repo, recursive: true);
                    PageCache.Prepare(source, warm);
                    var loopServer = Blueback(null, local, repo, server.Id, "--compress", "server");
                    Directory.Delete(repo, recursive: true);
                    PageCache.Prepare(pgData, warm);
                    var pgLoop = PgBaseBackup(root, null, "127.0.0.1", port, "client-zstd:1", pgData, pgBytes);
                    if (round == 0)
                    {
                        continue; // warms the JIT and both servers
                    }
                    Keep("remote", warm, first);
                    Keep("remote-second", warm, second);
                    Keep("remote-skip", warm, skip);
                    Keep("remote-restore", warm, restore);
                    Keep("remote-4", warm, four);
                    Keep("pg-remote", warm, pgRemote);
                    Keep("loopback", warm, loop);
                    Keep("loopback-server", warm, loopServer);
                    Keep("pg-loopback", warm, pgLoop);
                }
            }
            Report(best, rate);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            Postgres.Stop(pgData);
        }
    }

    private static void Report(Dictionary<(string Row, bool Warm), Measured> best, string rate)
    {
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine("| run | cold s | warm s | cold MB/s of its data | warm MB/s | over the wire (warm) | CPU s per GB: program + server (warm) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (row, name) in new[]
        {
            ("remote", $"blueback backup, program across the {rate} link (server compresses)"),
            ("remote-second", "blueback backup again, instance unchanged"),
            ("remote-skip", "blueback backup --skip-unchanged again, instance unchanged (unchanged pages not read)"),
            ("remote-4", "blueback backup --streams 4 across the link"),
            ("remote-restore", $"blueback restore --server, program across the {rate} link (a new instance; cold/warm: the repository's cache)"),
            ("pg-remote", $"pg_basebackup -Ft --compress=server-zstd:1 across the {rate} link"),
            ("loopback", "blueback backup on loopback (default: the program compresses)"),
            ("loopback-server", "blueback backup --compress server on loopback"),
            ("pg-loopback", "pg_basebackup -Ft --compress=client-zstd:1 on loopback"),
        })
        {
            var (c, w) = (best[(row, false)], best[(row, true)]);
            Console.WriteLine(string.Create(ci, $"| {name} | {c.Seconds:0.00} | {w.Seconds:0.00} | {c.Bytes / c.Seconds / 1e6:0} | {w.Bytes / w.Seconds / 1e6:0} | {w.Stored / 1e6:0} MB | {w.CpuSeconds / (w.Bytes / 1e9):0.00} ({w.PeakKiB / 1e3:0.00} server) |"));
        }
        foreach (bool warm in new[] { false, true })
        {
            string t = warm ? "warm" : "cold";
            double Ratio(string a, string b) => best[(b, warm)].Seconds / best[(a, warm)].Seconds;
            Console.WriteLine(string.Create(ci, $"{t}: remote full, pg time / blueback time {Ratio("remote", "pg-remote"):0.00} (target 1.00); second full {Ratio("remote-second", "pg-remote"):0.00} (target 5.00), with --skip-unchanged {Ratio("remote-skip", "pg-remote"):0.00}; loopback {Ratio("loopback", "pg-loopback"):0.00} (target 1.25), with --compress server {Ratio("loopback-server", "pg-loopback"):0.00}"));
            foreach (var row in new[] { "loopback", "loopback-server" })
            {
                var (b, pg) = (best[(row, warm)], best[("pg-loopback", warm)]);
                Console.WriteLine(string.Create(ci, $"{t}: {row} CPU s, program + server: {b.CpuSeconds:0.00} ({b.CpuSeconds / (b.Bytes / 1e9):0.00} per GB) against pg_basebackup's {pg.CpuSeconds:0.00} ({pg.CpuSeconds / (pg.Bytes / 1e9):0.00}); the server's {b.PeakKiB / 1e3:0.00} s ({b.PeakKiB / 1e3 / (b.Bytes / 1e9):0.00} per GB) against PostgreSQL's {pg.PeakKiB / 1e3:0.00} s ({pg.PeakKiB / 1e3 / (pg.Bytes / 1e9):0.00})"));
            }
            var r = best[("remote-restore", warm)];
            Console.WriteLine(string.Create(ci, $"{t}: remote online restore {r.Bytes / r.Seconds / 1e6:0} MB/s of its data, {r.Bytes / r.Seconds / LinkBytesPerSecond(rate):0.00}x the link's raw rate (raw pages cannot pass 1.00)"));
        }
    }

    /// <summary>A tc rate such as 1gbit or 100mbit in bytes per second.</summary>
    private static double LinkBytesPerSecond(string rate)
    {
        var r = rate.ToLowerInvariant();
        double scale = r.EndsWith("gbit", StringComparison.Ordinal) ? 1e9 : r.EndsWith("mbit", StringComparison.Ordinal) ? 1e6 : r.EndsWith("kbit", StringComparison.Ordinal) ? 1e3 : 1;
        return double.Parse(r.TrimEnd('g', 'm', 'k', 'b', 'i', 't'), CultureInfo.InvariantCulture) * scale / 8;
    }

    /// <summary>An online restore of the repository's latest set by the program on the other host, as a new instance
    /// <paramref name="name"/> (chunks sent as stored, the server decompressing them). CPU and wire as for a backup.</summary>
    private static Measured OnlineRestore(ShapedLink link, string url, string repo, string name, int serverPid)
    {
        double before = ServerCpu([serverPid]);
        string[] args = ["dotnet", Cli, "restore", "--repo", repo, "--server", url, "--as", name, "--json"];
        var m = BaseBackupBench.Timed(out var output, "ip", link.On(args));
        double server = ServerCpu([serverPid]) - before;
        var json = JsonDocument.Parse(output).RootElement;
        return m with { Bytes = json.GetProperty("bytes").GetInt64(), Stored = json.GetProperty("wire").GetInt64(), CpuSeconds = m.CpuSeconds + server, PeakKiB = (long)(server * 1000) };
    }

    /// <summary>A full backup by the program (on the other host when <paramref name="link"/> is given) into
    /// <paramref name="repo"/> (made if new). CpuSeconds is program + server per the run; PeakKiB holds the server's CPU
    /// seconds (the table's parenthesis); Stored the bytes over the network.</summary>
    private static Measured Blueback(ShapedLink? link, string url, string repo, int serverPid, params string[] extra)
    {
        if (!Directory.Exists(repo))
        {
            Shell.Run("dotnet", Cli, "repo", "init", repo);
        }
        double before = ServerCpu([serverPid]);
        string[] args = ["dotnet", Cli, "backup", "--server", url, "--repo", repo, "--json", .. extra];
        var m = link is null ? BaseBackupBench.Timed(out var output, args[0], args[1..]) : BaseBackupBench.Timed(out output, "ip", link.On(args));
        double server = ServerCpu([serverPid]) - before;
        var json = JsonDocument.Parse(output).RootElement;
        return m with { Bytes = json.GetProperty("bytes").GetInt64(), Stored = json.GetProperty("wire").GetInt64(), CpuSeconds = m.CpuSeconds + server, PeakKiB = (long)(server * 1000) };
    }

    private static Measured PgBaseBackup(string root, ShapedLink? link, string host, int port, string compress, string pgData, long pgBytes)
    {
        var target = Path.Combine(root, "wire-pg-base");
        Directory.CreateDirectory(target);
        Shell.Run("chown", "postgres:postgres", target);
        var pids = PostgresPids(pgData);
        double before = ServerCpu(pids);
        string[] args = ["runuser", "-u", "postgres", "--", Path.Combine(Postgres.Bin, "pg_basebackup"), "-h", host, "-p", port.ToString(CultureInfo.InvariantCulture), "-D", target, "-Ft", $"--compress={compress}", "-c", "fast", "-U", "postgres"];
        var m = link is null ? BaseBackupBench.Timed(out _, args[0], args[1..]) : BaseBackupBench.Timed(out _, "ip", link.On(args));
        double server = ServerCpu(PostgresPids(pgData).Union(pids)) - before;
        long wire = Directory.EnumerateFiles(target).Sum(f => new FileInfo(f).Length);
        Directory.Delete(target, recursive: true);
        return m with { Bytes = pgBytes, Stored = wire, CpuSeconds = m.CpuSeconds + server, PeakKiB = (long)(server * 1000) };
    }

    /// <summary>The postmaster (whose cutime/cstime hold its exited children, the walsenders) and its live children.</summary>
    private static List<int> PostgresPids(string pgData)
    {
        int postmaster = int.Parse(File.ReadLines(Path.Combine(pgData, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        var pids = new List<int> { postmaster };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out int pid) && pid != postmaster && Stat(pid) is { } s && s.Ppid == postmaster)
            {
                pids.Add(pid);
            }
        }
        return pids;
    }

    /// <summary>utime + stime + cutime + cstime of the processes, in seconds (gone ones count 0).</summary>
    private static double ServerCpu(IEnumerable<int> pids) => pids.Sum(p => Stat(p)?.Cpu ?? 0);

    private static (int Ppid, double Cpu)? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            // After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17), so index = field - 3.
            double ticks = f[11..15].Sum(x => double.Parse(x, CultureInfo.InvariantCulture));
            return (int.Parse(f[1], CultureInfo.InvariantCulture), ticks / 100.0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long DirBytes(string dir) => Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    /// <summary>Row i's value: 16 bytes (MD5 of i) repeated 256 times for even i, random bytes for odd i.</summary>
    private static void Value(long i, byte[] value, Random rng)
    {
        if (i % 2 == 0)
        {
            var md5 = MD5.HashData(Encoding.ASCII.GetBytes(i.ToString(CultureInfo.InvariantCulture)));
            for (int at = 0; at < value.Length; at += 16)
            {
                md5.CopyTo(value, at);
            }
        }
        else
        {
            rng.NextBytes(value);
        }
    }

    private static void Load(string data, long rows)
    {
        using var inst = StorageInstance.Create(Path.Combine(data, "store"), new InstanceOptions { LogGenerationSize = 16 << 20 });
        var db = inst.CreateDatabase("mailbox");
        var value = new byte[4096];
        var rng = new Random(3);
        for (long i = 0; i < rows;)
        {
            using var tx = inst.BeginWrite();
            for (int j = 0; j < 1000 && i < rows; j++, i++)
            {
                Value(i, value, rng);
                tx.Put(db, "t", Encoding.UTF8.GetBytes($"k{i:D10}"), value);
            }
            tx.Commit(CommitMode.Lazy);
        }
    }

    private static void LoadPostgres(string pgDir, int port, long rows)
    {
        Postgres.Sql(pgDir, port, "CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE t (k bigint PRIMARY KEY, v bytea NOT NULL); ALTER TABLE t ALTER COLUMN v SET STORAGE EXTERNAL");
        for (long i = 0; i < rows; i += 20_000)
        {
            Postgres.Sql(pgDir, port, string.Create(CultureInfo.InvariantCulture,
                $"INSERT INTO t SELECT g, CASE WHEN g % 2 = 0 THEN decode(repeat(md5(g::text), 256), 'hex') ELSE gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) END FROM generate_series({i}, {Math.Min(rows, i + 20_000) - 1}) g"));
        }
        Postgres.Sql(pgDir, port, "CHECKPOINT");
    }
}
