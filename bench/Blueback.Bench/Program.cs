using System.Diagnostics;
using System.Globalization;
using Blueback.Bench;

// Blueback engine beside SQLite (WAL) on the same machine, in the same run, alternating, reported as ratios.
// Usage: dotnet run -c Release --project bench/Blueback.Bench -- [--quick] [--dir DIR]
bool quick = args.Contains("--quick");
int dirIdx = Array.IndexOf(args, "--dir");
var root = dirIdx >= 0 ? args[dirIdx + 1] : Path.Combine(Path.GetTempPath(), $"blueback-bench-{Environment.ProcessId}");
Directory.CreateDirectory(root);
var ci = CultureInfo.InvariantCulture;
var seconds = quick ? 2.0 : 5.0;
long bulkBytes = quick ? 64L << 20 : 512L << 20;
var results = new List<(string Row, double Blueback, double Sqlite, string Unit)>();
try
{
    Console.WriteLine($"# Bench run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {(quick ? "quick" : "full")}, dir {root}");
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
    Console.WriteLine();
    Console.WriteLine("| row | Blueback | SQLite | ratio |");
    Console.WriteLine("|---|---:|---:|---:|");
    foreach (var r in results)
    {
        Console.WriteLine(string.Create(ci, $"| {r.Row} | {r.Blueback:N0} {r.Unit} | {r.Sqlite:N0} {r.Unit} | {r.Blueback / r.Sqlite:0.00} |"));
    }
}
finally
{
    try
    {
        Directory.Delete(root, recursive: true);
    }
    catch (IOException)
    {
    }
}
