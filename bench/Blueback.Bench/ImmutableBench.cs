using System.Globalization;
using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;

namespace Blueback.Bench;

/// <summary>The cost of immutability: a full backup into a plain repository and into an immutable one (30 days,
/// compliance), on a local directory and on S3 (moto on loopback, a bucket with Object Lock), alternating within each
/// round (round 0 warms; the median of the later rounds is reported). Each backup goes into a repository made for it
/// before the clock starts; MB/s is the backup's own figure (content bytes over its seconds, from --json), and the
/// objects are those the backup added to the repository.</summary>
internal static class ImmutableBench
{
    public static void Run(string root, string url, int rounds)
    {
        var ci = CultureInfo.InvariantCulture;
        using var moto = S3Bench.StartMoto(out var endpoint);
        var rates = new Dictionary<string, List<double>>();
        var objects = new Dictionary<string, int>();
        Console.WriteLine(string.Create(ci, $"immutable bench: load {File.ReadAllText("/proc/loadavg").Trim()}"));
        try
        {
            using var s3 = new AmazonS3Client(new AmazonS3Config { ServiceURL = endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
            s3.PutBucketAsync(new PutBucketRequest { BucketName = "bench", ObjectLockEnabledForBucket = true }).GetAwaiter().GetResult();
            var cases = new (string Name, bool S3, string[] Init)[]
            {
                ("local, plain", false, []),
                ("local, immutable", false, ["--immutable-days", "30"]),
                ("S3 (moto), plain", true, []),
                ("S3 (moto), immutable", true, ["--immutable-days", "30"]),
            };
            for (int round = 0; round <= rounds; round++)
            {
                foreach (var (name, onS3, init) in round % 2 == 0 ? cases : cases.Reverse())
                {
                    var dir = Path.Combine(root, $"imm-{round}-{name.GetHashCode(StringComparison.Ordinal) & 0xffff:x}");
                    var repo = onS3 ? $"s3://bench/{Path.GetFileName(dir)}" : dir;
                    string[] s3Args = onS3 ? ["--s3-endpoint", endpoint] : [];
                    Shell.Blueback(["repo", "init", repo, .. init, .. s3Args]);
                    int before = Count(s3, dir, onS3);
                    var r = JsonDocument.Parse(Shell.Blueback(["backup", "--server", url, "--repo", repo, "--type", "full", "--json", .. s3Args])).RootElement;
                    double rate = r.GetProperty("bytes").GetInt64() / r.GetProperty("seconds").GetDouble() / 1e6;
                    objects[name] = Count(s3, dir, onS3) - before;
                    Console.WriteLine(string.Create(ci, $"round {round}, {name}: {rate:0} MB/s, {objects[name]} objects"));
                    if (round > 0)
                    {
                        (rates.TryGetValue(name, out var list) ? list : rates[name] = []).Add(rate);
                    }
                    if (!onS3)
                    {
                        Directory.Delete(dir, recursive: true); // a local directory's "locks" do not stop its owner
                    }
                }
            }
        }
        finally
        {
            moto.Kill(entireProcessTree: true);
            moto.WaitForExit(10_000);
        }
        Console.WriteLine(string.Create(ci, $"load after: {File.ReadAllText("/proc/loadavg").Trim()}"));
        Console.WriteLine("| store | repository | backup MB/s (median) | against plain | objects written per set |");
        Console.WriteLine("|---|---|---:|---:|---:|");
        foreach (var (plain, locked) in new[] { ("local, plain", "local, immutable"), ("S3 (moto), plain", "S3 (moto), immutable") })
        {
            double p = Stats.Median(rates[plain]), l = Stats.Median(rates[locked]);
            Console.WriteLine(string.Create(ci, $"| {plain.Split(',')[0]} | plain | {p:0} | 1.00 | {objects[plain]} |"));
            Console.WriteLine(string.Create(ci, $"| {locked.Split(',')[0]} | immutable | {l:0} | {l / p:0.00} | {objects[locked]} |"));
        }
    }

    /// <summary>The objects the repository holds now (current versions, on S3).</summary>
    private static int Count(AmazonS3Client s3, string dir, bool onS3)
    {
        if (!onS3)
        {
            return Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count();
        }
        int count = 0;
        var request = new ListObjectsV2Request { BucketName = "bench", Prefix = Path.GetFileName(dir) + "/" };
        while (true)
        {
            var page = s3.ListObjectsV2Async(request).GetAwaiter().GetResult();
            count += page.S3Objects?.Count ?? 0;
            if (page.IsTruncated != true)
            {
                return count;
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
    }
}
