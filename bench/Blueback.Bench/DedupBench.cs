using System.Globalization;
using System.Text.Json;

namespace Blueback.Bench;

/// <summary>What format 2's shared chunks and encryption cost and save, on the served instance: a full backup into a
/// new repository of format 1 (each set's own chunks), format 2 (content-addressed, deduplicated) and format 2
/// encrypted (AES-256-GCM, key file), then a second full of the unchanged instance into the same repository (its new
/// bytes are what dedup saves). Configurations alternate within each round; round 0 warms; better of rounds 1 and 2.</summary>
internal static class DedupBench
{
    private sealed record Result(double FirstRate, double SecondRate, long Bytes, long FirstStored, long SecondStored, long SecondBytes);

    public static void Run(string root, string url)
    {
        var ci = CultureInfo.InvariantCulture;
        var keyFile = Path.Combine(root, "dedup-bench.key");
        var configs = new (string Name, string[] Init, string[] Open)[]
        {
            ("format 1 (no dedup), zstd-1", ["--format", "1"], []),
            ("format 2 (dedup), zstd-1", [], []),
            ("format 2 (dedup) encrypted, zstd-1", ["--encrypt", "--key-file", keyFile], ["--key-file", keyFile]),
            ("format 1 (no dedup), --no-compress", ["--format", "1"], ["--no-compress"]),
            ("format 2 (dedup), --no-compress", [], ["--no-compress"]),
            ("format 2 (dedup) encrypted, --no-compress", ["--encrypt", "--key-file", keyFile], ["--key-file", keyFile, "--no-compress"]),
        };
        var best = new Dictionary<string, Result>();
        for (int round = 0; round < 3; round++)
        {
            foreach (var (name, init, open) in configs)
            {
                var repo = Path.Combine(root, $"dedup-repo-{round}");
                Shell.Blueback(["repo", "init", repo, .. init]);
                var first = Backup(url, repo, open);
                var second = Backup(url, repo, open);
                Directory.Delete(repo, recursive: true);
                var r = new Result(first.Rate, second.Rate, first.Bytes, first.Stored, second.Stored, second.Bytes);
                Console.WriteLine(string.Create(ci, $"round {round}, {name}: first full {first.Rate:0} MB/s ({first.Stored >> 20} MiB stored of {first.Bytes >> 20}), second full {second.Rate:0} MB/s ({second.Stored / 1048576.0:0.0} MiB new of {second.Bytes >> 20})"));
                if (round > 0 && (!best.TryGetValue(name, out var old) || r.FirstRate > old.FirstRate))
                {
                    best[name] = r;
                }
            }
        }
        Console.WriteLine("| repository | first full MB/s | against format 1 | second full (unchanged) MB/s | second full's new bytes |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (name, _, _) in configs)
        {
            var r = best[name];
            var baseline = best[name.Contains("no-compress", StringComparison.Ordinal) ? "format 1 (no dedup), --no-compress" : "format 1 (no dedup), zstd-1"];
            Console.WriteLine(string.Create(ci, $"| {name} | {r.FirstRate:0} | {r.FirstRate / baseline.FirstRate:0.00} | {r.SecondRate:0} | {r.SecondStored / 1048576.0:0.0} MiB of {r.SecondBytes >> 20} MiB ({100.0 * r.SecondStored / r.SecondBytes:0.00}%) |"));
        }
    }

    private static (double Rate, long Bytes, long Stored) Backup(string url, string repo, string[] extra)
    {
        var json = JsonDocument.Parse(Shell.Blueback(["backup", "--server", url, "--repo", repo, "--type", "full", "--json", .. extra])).RootElement;
        long bytes = json.GetProperty("bytes").GetInt64();
        return (bytes / json.GetProperty("seconds").GetDouble() / 1e6, bytes, json.GetProperty("stored").GetInt64());
    }
}
