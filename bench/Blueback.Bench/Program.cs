using System.Diagnostics;
using System.Globalization;
using Blueback.Bench;

// Blueback engine beside SQLite (WAL) on the same machine, in the same run, alternating, reported as ratios.
// Usage: dotnet run -c Release --project bench/Blueback.Bench -- [--quick] [--dir DIR] [--server|--backup|--restore|--replay|--s3|--rgw ENDPOINT [--rounds N]|--basebackup|--ship [--max-lag SECONDS]|--standby|--promote|--new-user|--dedup|--delta-restore|--granular-restore [--size MIB]|--mount [--size MIB]|--changed-pages|--boundaries|--wire [--rate 1gbit]|--wire-data DIR|--hashes|--copy|--writers-kept [--repo-dir DIR] [--rounds N]]
bool quick = args.Contains("--quick");
bool serverOnly = args.Contains("--server");
bool backupOnly = args.Contains("--backup");
bool restoreOnly = args.Contains("--restore");
bool replayOnly = args.Contains("--replay");
bool s3Only = args.Contains("--s3");
bool baseBackupOnly = args.Contains("--basebackup");
bool shipOnly = args.Contains("--ship");
bool standbyOnly = args.Contains("--standby");
int dirIdx = Array.IndexOf(args, "--dir");
var root = dirIdx >= 0 ? args[dirIdx + 1] : Path.Combine(Path.GetTempPath(), $"blueback-bench-{Environment.ProcessId}");
Directory.CreateDirectory(root);
var ci = CultureInfo.InvariantCulture;
int? rounds = Array.IndexOf(args, "--rounds") is >= 0 and var roundsAt ? int.Parse(args[roundsAt + 1], ci) : null; // --rgw, --writers-kept
var seconds = quick ? 2.0 : 5.0;
long bulkBytes = quick ? 64L << 20 : 512L << 20;
var results = new List<(string Row, double Blueback, double Sqlite, string Unit)>();
try
{
    Console.WriteLine($"# Bench run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {(quick ? "quick" : "full")}, dir {root}");
    if (args.Contains("--new-user"))
    {
        NewUserBench.Run(root, quick ? 2 : 6);
        return;
    }
    if (args.Contains("--promote"))
    {
        PromoteBench.Run(root, quick ? 3 : 10);
        return;
    }
    if (standbyOnly)
    {
        ReplayBench.Run(Path.Combine(root, "standby"), quick ? 256L << 20 : 2L << 30, quick ? 256L << 20 : 1L << 30, follow: true);
        PromoteBench.Run(root, quick ? 3 : 10);
        return;
    }
    if (shipOnly)
    {
        int lagIdx = Array.IndexOf(args, "--max-lag");
        var lag = TimeSpan.FromSeconds(lagIdx >= 0 ? double.Parse(args[lagIdx + 1], ci) : 5);
        BackupBench.Run(root, 64L << 20, seconds, instead: (r, _, u) => ShipBench.Run(r, u, quick ? 5 : 15, lag));
        return;
    }
    if (args.Contains("--immutable"))
    {
        BackupBench.Run(root, quick ? 256L << 20 : 512L << 20, seconds, instead: (r, _, u) => ImmutableBench.Run(r, u, quick ? 3 : 5));
        return;
    }
    if (args.Contains("--writers-kept"))
    {
        BackupBench.Run(root, quick ? 256L << 20 : 512L << 20, seconds, instead: (r, _, u) => WritersKeptBench.Run(r, u, quick ? 5 : 10, rounds ?? (quick ? 2 : 3), args.SkipWhile(a => a != "--repo-dir").Skip(1).FirstOrDefault()));
        return;
    }
    if (args.Contains("--copy"))
    {
        BackupBench.Run(root, quick ? 256L << 20 : 512L << 20, seconds, instead: (r, _, u) => CopyBench.Run(r, u, quick ? 2 : 3));
        return;
    }
    if (args.Contains("--hashes"))
    {
        HashBench.Run(quick ? 1 : 3);
        return;
    }
    if (Array.IndexOf(args, "--wire-data") is >= 0 and var wireData)
    {
        WireBench.LoadOnly(args[wireData + 1], quick ? 256L << 20 : 2L << 30);
        return;
    }
    if (args.Contains("--wire"))
    {
        int rateIdx = Array.IndexOf(args, "--rate");
        WireBench.Run(root, quick ? 256L << 20 : 2L << 30, rateIdx >= 0 ? args[rateIdx + 1] : "1gbit");
        return;
    }
    if (baseBackupOnly)
    {
        long size = quick ? 256L << 20 : 2L << 30;
        BackupBench.Run(root, size, seconds, instead: (r, d, u) => BaseBackupBench.Run(r, d, u, size));
        return;
    }
    if (args.Contains("--delta-restore"))
    {
        long size = quick ? 256L << 20 : 2L << 30;
        BackupBench.Run(root, size, seconds, instead: (r, d, u) => DeltaRestoreBench.Run(r, d, u, size));
        return;
    }
    // --size MiB: a size between the quick run's and the full one's, for a machine too busy for 2 GiB.
    int sizeIdx = Array.IndexOf(args, "--size");
    long restoreSize = sizeIdx >= 0 ? long.Parse(args[sizeIdx + 1], ci) << 20 : quick ? 256L << 20 : 2L << 30;
    if (args.Contains("--mount"))
    {
        BackupBench.Run(root, restoreSize, seconds, instead: (r, _, u) => MountBench.Run(r, u, restoreSize, quick ? 2 : 3));
        return;
    }
    if (args.Contains("--granular-restore"))
    {
        BackupBench.Run(root, restoreSize, seconds, instead: (r, _, u) => GranularRestoreBench.Run(r, u, restoreSize, quick ? 2 : 3));
        return;
    }
    if (args.Contains("--boundaries"))
    {
        BoundaryBench.Run(root, quick ? 64L << 20 : 512L << 20);
        return;
    }
    if (args.Contains("--changed-pages"))
    {
        long size = quick ? 256L << 20 : 2L << 30;
        BackupBench.Run(root, size, seconds, instead: (r, d, u) => ChangedPagesBench.Run(r, d, u, size));
        return;
    }
    if (args.Contains("--digest"))
    {
        long size = quick ? 256L << 20 : 1L << 30;
        BackupBench.Run(root, size, seconds, instead: (r, _, u) => ProofBench.DigestCost(r, u, size));
        return;
    }
    if (args.Contains("--prove"))
    {
        long size = quick ? 256L << 20 : 1L << 30;
        BackupBench.Run(root, size, seconds, instead: (r, _, u) => ProofBench.Run(r, u, size));
        return;
    }
    if (args.Contains("--dedup"))
    {
        BackupBench.Run(root, quick ? 256L << 20 : 2L << 30, seconds, instead: (r, _, u) => DedupBench.Run(r, u));
        return;
    }
    if (Array.IndexOf(args, "--rgw") is >= 0 and var rgwIdx)
    {
        BackupBench.Run(root, quick ? 256L << 20 : 1L << 30, seconds, instead: (r, _, u) => RgwBench.Run(r, u, args[rgwIdx + 1], rounds ?? 3));
        return;
    }
    if (s3Only)
    {
        BackupBench.Run(root, quick ? 256L << 20 : 2L << 30, seconds, instead: S3Bench.Run);
        return;
    }
    if (replayOnly)
    {
        ReplayBench.Run(Path.Combine(root, "replay"), quick ? 256L << 20 : 2L << 30, quick ? 256L << 20 : 1L << 30);
        return;
    }
    if (restoreOnly)
    {
        BackupBench.Run(root, quick ? 256L << 20 : 2L << 30, seconds, restoreOnly: true);
        return;
    }
    if (backupOnly)
    {
        BackupBench.Run(root, quick ? 256L << 20 : 2L << 30, seconds);
        return;
    }
    // The server over HTTP (blueback load -> blueback serve) beside the engine in process, same workload.
    foreach (int batch in new[] { 100, 1 })
    {
        double engine = 0, http = 0;
        for (int round = 0; round < 2; round++)
        {
            // Both sides warm: the engine's first round warms this process; load warms the server for 3 s.
            engine = Math.Max(engine, Engines.BluebackDurablePuts(Path.Combine(root, $"eng-b{batch}-{round}"), 64, batch, 1024, seconds));
            http = Math.Max(http, ServerLoad.Run(Path.Combine(root, $"srv-b{batch}-{round}"), 64, batch, 1024, seconds));
        }
        results.Add(($"durable 1 KiB puts/s, 64 writers, {batch} per transaction: server over HTTP (load) vs engine in process", http, engine, "puts/s"));
        Console.WriteLine($"server vs engine, batch {batch}: http {http:N0}/s, engine {engine:N0}/s, ratio {http / engine:0.00}");
    }
    if (serverOnly)
    {
        PrintTable(results);
        return;
    }
    foreach (int writers in new[] { 1, 8, 64 })
    {
        // Alternate: Blueback, SQLite, Blueback, SQLite; keep the better of each pair of runs.
        double b = 0, s = 0;
        for (int round = 0; round < 2; round++)
        {
            b = Math.Max(b, Engines.BluebackDurableCommits(Path.Combine(root, $"bb-c{writers}-{round}"), writers, seconds));
            s = Math.Max(s, Engines.SqliteDurableCommits(Path.Combine(root, $"sq-c{writers}-{round}"), writers, seconds));
        }
        results.Add(($"durable commits/s, {writers} writer(s)", b, s, "commits/s"));
        Console.WriteLine($"commits {writers,2} writers: blueback {b:N0}/s, sqlite {s:N0}/s, ratio {b / s:0.00}");
    }
    var bbBulk = Engines.BluebackBulkLoad(Path.Combine(root, "bb-bulk"), bulkBytes);
    var sqBulk = Engines.SqliteBulkLoad(Path.Combine(root, "sq-bulk"), bulkBytes);
    results.Add(($"bulk load ({bulkBytes >> 20} MiB of 1 KiB rows)", bbBulk, sqBulk, "MB/s"));
    Console.WriteLine($"bulk load: blueback {bbBulk:0.0} MB/s, sqlite {sqBulk:0.0} MB/s, ratio {bbBulk / sqBulk:0.00}");
    foreach (int readers in new[] { 1, 2 })
    {
        double b = 0, s = 0;
        for (int round = 0; round < 2; round++)
        {
            b = Math.Max(b, Engines.BluebackRandomReads(Path.Combine(root, "bb-bulk"), readers, seconds));
            s = Math.Max(s, Engines.SqliteRandomReads(Path.Combine(root, "sq-bulk"), readers, seconds));
        }
        results.Add(($"random point reads/s, {readers} reader(s), database {bulkBytes >> 20} MiB vs 64 MiB cache", b, s, "reads/s"));
        Console.WriteLine($"reads {readers} readers: blueback {b:N0}/s, sqlite {s:N0}/s, ratio {b / s:0.00}");
    }
    PrintTable(results);
}
finally
{
    try
    {
        if (dirIdx < 0)
        {
            Directory.Delete(root, recursive: true); // a directory given with --dir is kept for inspection
        }
    }
    catch (IOException)
    {
    }
}

static void PrintTable(List<(string Row, double Blueback, double Sqlite, string Unit)> results)
{
    Console.WriteLine();
    Console.WriteLine("| row | A | B (baseline) | A / B |");
    Console.WriteLine("|---|---:|---:|---:|");
    foreach (var r in results)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Row} | {r.Blueback:N0} {r.Unit} | {r.Sqlite:N0} {r.Unit} | {r.Blueback / r.Sqlite:0.00} |"));
    }
}
