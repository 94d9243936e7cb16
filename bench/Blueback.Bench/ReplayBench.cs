using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Blueback.Storage;
using Blueback.Storage.Backup;
using Blueback.Storage.Restore;

namespace Blueback.Bench;

/// <summary>Log replay after a restore, Blueback beside PostgreSQL 15, in one run: each loads the same rows (1 KiB
/// values), takes a base backup (Blueback: a full backup; PostgreSQL: pg_basebackup), then updates every 50th row
/// round after round until it has written the same volume of log, takes the logs (an incremental backup; the WAL
/// segments), and replays them from the base: Blueback's hard recovery, PostgreSQL's recovery from the backup_label
/// with the segments in pg_wal. Reported: MB of log replayed per second, each from its own clock (Blueback's
/// recovery call; PostgreSQL's "redo done ... elapsed").</summary>
internal static partial class ReplayBench
{
    private const int ValueBytes = 1024;
    private const int Every = 50;

    public static void Run(string root, long baseBytes, long logBytes, bool follow = false)
    {
        Directory.CreateDirectory(root);
        long rows = baseBytes / ValueBytes;
        Console.WriteLine($"replay bench: {rows:N0} rows of {ValueBytes} B, then updates of every {Every}th row until {logBytes >> 20} MiB of log");
        var bb = new List<(double Rate, long Bytes, double Seconds)>();
        var pg = new List<(double Rate, long Bytes, double Seconds)>();
        for (int round = 0; round < 2; round++)
        {
            bb.Add(BluebackReplay(Path.Combine(root, $"bb-{round}"), rows, logBytes, follow));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  blueback round {round}: {bb[^1].Bytes / 1048576.0:0} MiB of log {(follow ? "applied by a standby, a generation at a time," : "replayed")} in {bb[^1].Seconds:0.00} s = {bb[^1].Rate / 1e6:0} MB/s"));
            pg.Add(PostgresReplay(Path.Combine(root, $"pg-{round}"), rows, logBytes));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  postgres round {round}: {pg[^1].Bytes / 1048576.0:0} MiB of WAL replayed in {pg[^1].Seconds:0.00} s = {pg[^1].Rate / 1e6:0} MB/s"));
        }
        double b = bb.Max(x => x.Rate), p = pg.Max(x => x.Rate);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(follow ? "standby apply" : "log replay")}: blueback {b / 1e6:0} MB/s, postgres 15 {p / 1e6:0} MB/s, ratio {b / p:0.00} (better of 2 rounds each, alternating)"));
    }

    private static byte[] Key(long i) => Encoding.UTF8.GetBytes($"k{i:D10}");

    private static (double Rate, long Bytes, double Seconds) BluebackReplay(string dir, long rows, long logBytes, bool follow)
    {
        var live = Path.Combine(dir, "live");
        var restored = Path.Combine(dir, "restored", "store");
        var options = new InstanceOptions { Name = "store", LogGenerationSize = 16 << 20 };
        var value = new byte[ValueBytes];
        var rng = new Random(5);
        using (var inst = StorageInstance.Create(live, options))
        {
            var db = inst.CreateDatabase("mailbox");
            for (long i = 0; i < rows;)
            {
                using var tx = inst.BeginWrite();
                for (int j = 0; j < 1000 && i < rows; j++, i++)
                {
                    rng.NextBytes(value);
                    tx.Put(db, "t", Key(i), value);
                }
                tx.Commit(CommitMode.Lazy);
            }
            inst.Checkpoint();

            // The base: a full backup, written through the product's restore writer.
            var full = inst.BeginBackup(BackupType.Full);
            var record = new RestoreRecord { Sets = ["full", "incremental"], SourceInstance = "store", GenLow = full.GenLow, Created = DateTime.UtcNow };
            var writer = RestoreWriter.Begin(restored, record, replace: false);
            try
            {
                foreach (var d in full.Databases)
                {
                    using var image = full.OpenDatabaseImage(d.Name);
                    writer.WriteDatabaseAsync(d.Name, image.Length, null, (s, ct) => image.CopyToAsync(s, ct), default).GetAwaiter().GetResult();
                }
                Logs(full, writer);
                record.ConsistentAfter = full.GenHigh!.Value;
                full.Truncate();
                full.End();

                // The log to replay: updates of every 50th row, round after round.
                var start = inst.LogPosition;
                for (int r = 0; LogBytes(start, inst.LogPosition, options.LogGenerationSize) < logBytes; r++)
                {
                    for (long i = r % Every; i < rows && LogBytes(start, inst.LogPosition, options.LogGenerationSize) < logBytes;)
                    {
                        using var tx = inst.BeginWrite();
                        for (int j = 0; j < 100 && i < rows; j++, i += Every)
                        {
                            rng.NextBytes(value);
                            tx.Put(db, "t", Key(i), value);
                        }
                        tx.Commit(CommitMode.Lazy);
                    }
                }
                var inc = inst.BeginBackup(BackupType.Incremental);
                Logs(inc, writer);
                record.GenHigh = inc.GenHigh!.Value;
                inc.End();
                writer.Complete();
            }
            finally
            {
                writer.Dispose();
            }
        }
        var logDir = Path.Combine(restored, StorageInstance.LogDirectoryName);
        if (follow)
        {
            return StandbyApply(dir, restored, logDir);
        }
        var sizes = Directory.EnumerateFiles(logDir).ToDictionary(f => Path.GetFileName(f), f => new FileInfo(f).Length);
        var sw = Stopwatch.StartNew();
        var report = HardRecovery.Run(restored, new InstanceOptions { Name = "store" });
        double seconds = sw.Elapsed.TotalSeconds;
        // The bytes of log between where replay started and where it ended (generations are fixed-size files).
        long bytes = report.End.Offset - (long)report.From.Offset;
        for (uint g = report.From.Generation; g < report.End.Generation; g++)
        {
            bytes += sizes[Storage.Log.LogFiles.FileName(g)];
        }
        if (report.TransactionsReplayed == 0)
        {
            throw new InvalidOperationException("Blueback replayed nothing");
        }
        Directory.Delete(dir, recursive: true);
        return (bytes / seconds, bytes, seconds);
    }

    /// <summary>A warm standby's apply: the full set's own generations applied once (not timed), then the
    /// generations after it arrive one at a time, as shipped, and each is applied as the standby does (database files
    /// opened, the generation replayed, every file flushed to disk, the position recorded).</summary>
    private static (double Rate, long Bytes, double Seconds) StandbyApply(string dir, string restored, string logDir)
    {
        var record = RestoreRecord.Read(restored)!;
        var staged = Path.Combine(dir, "shipped");
        Directory.CreateDirectory(staged);
        var later = Storage.Log.LogFiles.List(logDir).Where(g => g > record.ConsistentAfter).ToList();
        foreach (var g in later)
        {
            File.Move(Storage.Log.LogFiles.PathOf(logDir, g), Storage.Log.LogFiles.PathOf(staged, g));
        }
        record.GenHigh = record.ConsistentAfter;
        record.Write(restored);
        Storage.Standby.StandbyApplier.Initialize(restored, "bench", default);
        var cont = Storage.Standby.StandbyApplier.Apply(restored, null, default).End;
        long bytes = 0, transactions = 0;
        var sw = Stopwatch.StartNew();
        var lastDurable = TimeSpan.Zero;
        foreach (var g in later)
        {
            var path = Storage.Log.LogFiles.PathOf(staged, g);
            bytes += new FileInfo(path).Length;
            File.Move(path, Storage.Log.LogFiles.PathOf(logDir, g));
            bool durable = sw.Elapsed - lastDurable >= TimeSpan.FromSeconds(5); // the follower's policy
            var r = Storage.Standby.StandbyApplier.Apply(restored, cont, default, durable);
            lastDurable = durable ? sw.Elapsed : lastDurable;
            cont = r.End;
            transactions += r.Transactions;
        }
        double seconds = sw.Elapsed.TotalSeconds;
        if (transactions == 0)
        {
            throw new InvalidOperationException("the standby applied nothing");
        }
        Directory.Delete(dir, recursive: true);
        return (bytes / seconds, bytes, seconds);
    }

    private static void Logs(InstanceBackup backup, RestoreWriter writer)
    {
        foreach (var log in backup.ListLogs())
        {
            using var s = backup.OpenLog(log.Generation);
            writer.WriteLogAsync(log.Generation, s.Length, null, (d, ct) => s.CopyToAsync(d, ct), default).GetAwaiter().GetResult();
        }
    }

    private static long LogBytes(Storage.Format.Lsn from, Storage.Format.Lsn to, int generationSize) =>
        ((long)to.Generation - from.Generation) * generationSize + to.Offset - from.Offset;

    private static (double Rate, long Bytes, double Seconds) PostgresReplay(string dir, long rows, long logBytes)
    {
        var data = Path.Combine(dir, "data");
        var backup = Path.Combine(dir, "base");
        int port = Postgres.InitAndStart(dir);
        var opts = Postgres.Options(dir, port);
        try
        {
            Postgres.Sql(dir, port, "CREATE TABLE t (k bigint PRIMARY KEY, v bytea NOT NULL)");
            for (long i = 0; i < rows; i += 100_000)
            {
                Postgres.Sql(dir, port, $"INSERT INTO t SELECT g, decode(repeat(md5(g::text), {ValueBytes / 16}), 'hex') FROM generate_series({i}, {Math.Min(rows, i + 100_000) - 1}) g");
            }
            Postgres.Sql(dir, port, "CHECKPOINT");
            Postgres.Tool("pg_basebackup", "-h", dir, "-p", port.ToString(CultureInfo.InvariantCulture), "-D", backup, "-Fp", "-X", "none", "--no-sync", "-c", "fast");
            var start = Postgres.Sql(dir, port, "SELECT pg_current_wal_insert_lsn()").Trim();
            for (int r = 0; ; r++)
            {
                Postgres.Sql(dir, port, $"UPDATE t SET v = decode(repeat(md5((k + {r + 1} * 1000003)::text), {ValueBytes / 16}), 'hex') WHERE k % {Every} = {r % Every}");
                if (long.Parse(Postgres.Sql(dir, port, $"SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '{start}')::bigint").Trim(), CultureInfo.InvariantCulture) >= logBytes)
                {
                    break;
                }
            }
            Postgres.Sql(dir, port, "SELECT pg_switch_wal()");
        }
        finally
        {
            Postgres.Stop(data);
        }
        // The base backup plus every segment written since: recovery from the backup_label replays them all.
        foreach (var seg in Directory.EnumerateFiles(Path.Combine(data, "pg_wal")).Where(f => Path.GetFileName(f).Length == 24))
        {
            var target = Path.Combine(backup, "pg_wal", Path.GetFileName(seg));
            if (!File.Exists(target))
            {
                File.Copy(seg, target);
            }
        }
        Shell.Run("chown", "-R", "postgres:postgres", backup);
        Shell.Run("chmod", "700", backup);
        var log = Path.Combine(dir, "recovery.log");
        Postgres.Tool("pg_ctl", "-D", backup, "-o", opts, "-l", log, "-w", "-t", "3600", "start");
        Postgres.Tool("pg_ctl", "-D", backup, "-m", "fast", "-w", "stop");
        var text = File.ReadAllText(log);
        var starts = RedoStarts().Match(text);
        var done = RedoDone().Match(text);
        if (!starts.Success || !done.Success)
        {
            throw new InvalidOperationException($"PostgreSQL's recovery log has no 'redo starts'/'redo done' lines:\n{text}");
        }
        long bytes = Lsn(done.Groups[1].Value) - Lsn(starts.Groups[1].Value);
        double seconds = double.Parse(done.Groups[2].Value, CultureInfo.InvariantCulture);
        Directory.Delete(dir, recursive: true);
        return (bytes / seconds, bytes, seconds);
    }

    private static long Lsn(string s)
    {
        var parts = s.Split('/');
        return (long.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture) << 32) + long.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"redo starts at ([0-9A-F]+/[0-9A-F]+)")]
    private static partial Regex RedoStarts();

    [GeneratedRegex(@"redo done at ([0-9A-F]+/[0-9A-F]+) system usage: .*elapsed: ([0-9.]+) s")]
    private static partial Regex RedoDone();

}
