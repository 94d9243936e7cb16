using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;

namespace Blueback.Bench;

/// <summary><c>repo copy</c> against the store's own copy rate, alternating within each round (round 0 warms; the
/// better of the later rounds is reported): local to local beside <c>cp -r</c> of the repository directory and a
/// <c>sync</c>; local to S3 (moto on loopback) beside a loop that puts each object of the repository through the AWS SDK,
/// as many at once as <c>repo copy</c> (4) with the same part size (chunks go whole). Both sides of each pair timed
/// around the process or loop, over the source repository's stored bytes.</summary>
internal static class CopyBench
{
    public static void Run(string root, string url, int rounds)
    {
        var ci = CultureInfo.InvariantCulture;
        var source = Path.Combine(root, "copy-source");
        Shell.Blueback(["repo", "init", source]);
        Shell.Blueback(["backup", "--server", url, "--repo", source, "--type", "full", "--json"]);
        long stored = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Console.WriteLine(string.Create(ci, $"copy bench: source repository {stored / 1048576.0:0} MiB, load {File.ReadAllText("/proc/loadavg").Trim()}"));
        using var moto = S3Bench.StartMoto(out var endpoint);
        var best = new Dictionary<string, double>();
        try
        {
            using var s3 = new AmazonS3Client(new AmazonS3Config { ServiceURL = endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
            s3.PutBucketAsync("bench").GetAwaiter().GetResult();
            for (int round = 0; round <= rounds; round++)
            {
                // The destination is made before the clock starts (a repository exists before a copy into it); repo copy's
                // own figure (from --json, its process start left out) is printed beside the timed one.
                var cases = new (string Name, Action<string> Prepare, Action<string> Run)[]
                {
                    ("local to local: repo copy", target => Shell.Blueback(["repo", "init", target]), target => Own(Shell.Blueback(["repo", "copy", "--from", source, "--to", target, "--all", "--json"]))),
                    ("local to local: cp -r + sync", _ => { }, target => Shell.Run("sh", "-c", $"cp -r '{source}' '{target}' && sync")),
                    ("local to S3: repo copy", target => Shell.Blueback(["repo", "init", S3(target), "--s3-endpoint", endpoint]), target => Own(Shell.Blueback(["repo", "copy", "--from", source, "--to", S3(target), "--all", "--json", "--s3-endpoint", endpoint]))),
                    ("local to S3: SDK put loop", _ => { }, target => PutAll(s3, source, Path.GetFileName(target))),
                };
                foreach (var (name, prepare, run) in round % 2 == 0 ? cases : cases.Reverse())
                {
                    var target = Path.Combine(root, $"copy-target-{round}-{name.GetHashCode(StringComparison.Ordinal) & 0xffff:x}");
                    prepare(target);
                    var sw = Stopwatch.StartNew();
                    run(target);
                    double rate = stored / sw.Elapsed.TotalSeconds / 1e6;
                    Console.WriteLine(string.Create(ci, $"round {round}, {name}: {rate:0} MB/s"));
                    if (Directory.Exists(target))
                    {
                        Directory.Delete(target, recursive: true);
                    }
                    DeletePrefix(s3, Path.GetFileName(target)); // moto holds everything in memory
                    if (round > 0 && (!best.TryGetValue(name, out var old) || rate > old))
                    {
                        best[name] = rate;
                    }
                }
            }
        }
        finally
        {
            moto.Kill(entireProcessTree: true);
            moto.WaitForExit(10_000);
            Directory.Delete(source, recursive: true);
        }
        Console.WriteLine(string.Create(ci, $"load after: {File.ReadAllText("/proc/loadavg").Trim()}"));
        Console.WriteLine("| copy | MB/s | against the store's own copy |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var (name, baseline) in new[] { ("local to local: repo copy", "local to local: cp -r + sync"), ("local to S3: repo copy", "local to S3: SDK put loop") })
        {
            Console.WriteLine(string.Create(ci, $"| {baseline} | {best[baseline]:0} | 1.00 |"));
            Console.WriteLine(string.Create(ci, $"| {name} | {best[name]:0} | {best[name] / best[baseline]:0.00} |"));
        }
    }

    private static string S3(string target) => $"s3://bench/{Path.GetFileName(target)}";

    /// <summary>repo copy's own rate, from its --json record (bytes of content over its own seconds).</summary>
    private static void Own(string json)
    {
        var r = JsonDocument.Parse(json).RootElement;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  (repo copy's own figure: {r.GetProperty("bytes").GetInt64() / r.GetProperty("seconds").GetDouble() / 1e6:0} MB/s of content, {r.GetProperty("stored").GetInt64() >> 20} MiB stored)"));
    }

    private static void DeletePrefix(AmazonS3Client s3, string prefix)
    {
        while (true)
        {
            var listed = s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = "bench", Prefix = prefix + "/" }).GetAwaiter().GetResult();
            if (listed.S3Objects is not { Count: > 0 } objects)
            {
                return;
            }
            foreach (var o in objects)
            {
                s3.DeleteObjectAsync("bench", o.Key).GetAwaiter().GetResult();
            }
        }
    }

    /// <summary>Every object of the repository put under <paramref name="prefix"/>, 4 at once: what moving the stored
    /// bytes costs the S3 store without any of repo copy's checks.</summary>
    private static void PutAll(AmazonS3Client s3, string source, string prefix)
    {
        var files = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).ToList();
        Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (f, ct) =>
        {
            var key = $"{prefix}/{Path.GetRelativePath(source, f).Replace('\\', '/')}";
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = "bench", Key = key, FilePath = f }, ct);
        }).GetAwaiter().GetResult();
    }
}
