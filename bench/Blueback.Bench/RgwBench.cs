using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Blueback.Repository.Stores;

namespace Blueback.Bench;

/// <summary>Backup and restore of the same served instance into a local directory and into an S3-compatible service
/// (Ceph RGW: <c>--rgw http://127.0.0.1:PORT</c>, credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY),
/// alternating A and B for several rounds in one run (round 0 warms and is not counted), a fresh repository each
/// time (the S3 one deleted after, so a memstore cluster does not fill). Rates are the backup command's own bytes and
/// seconds, and the restore process's wall time (start and hard recovery included); reported with the ratio of
/// RGW to local per round.</summary>
internal static class RgwBench
{
    public static void Run(string root, string url, string endpoint, int rounds)
    {
        const string bucket = "bench";
        using (var client = new AmazonS3Client(new AmazonS3Config { ServiceURL = endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1", RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED }))
        {
            try
            {
                client.PutBucketAsync(bucket).GetAwaiter().GetResult();
            }
            catch (AmazonS3Exception ex) when (ex.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
            {
                // There from an earlier run.
            }
        }
        Console.WriteLine("| round | local backup MB/s | RGW backup MB/s | ratio | local restore MB/s | RGW restore MB/s | ratio | bytes |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        var ratios = new List<(double Backup, double Restore)>();
        for (int round = 0; round <= rounds; round++)
        {
            var local = Path.Combine(root, $"rgwbench-local-{round}");
            var repo = $"s3://{bucket}/r{round}-{Environment.ProcessId}";
            // Alternate which goes first, so that neither always runs on a machine the other just warmed.
            (double B, double R, long Bytes) l, s;
            if (round % 2 == 0)
            {
                l = Measure(local, [], root, url);
                s = Measure(repo, ["--s3-endpoint", endpoint], root, url);
            }
            else
            {
                s = Measure(repo, ["--s3-endpoint", endpoint], root, url);
                l = Measure(local, [], root, url);
            }
            Directory.Delete(local, recursive: true);
            using (var store = new S3Store(repo, new S3Options { Endpoint = endpoint, PathStyle = true }))
            {
                store.DeletePrefixAsync("", CancellationToken.None).GetAwaiter().GetResult();
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {(round == 0 ? "0 (warm-up)" : round)} | {l.B / 1e6:0} | {s.B / 1e6:0} | {s.B / l.B:0.00} | {l.R / 1e6:0} | {s.R / 1e6:0} | {s.R / l.R:0.00} | {l.Bytes / 1048576.0:0} MiB |"));
            if (round > 0)
            {
                ratios.Add((s.B / l.B, s.R / l.R));
            }
        }
        if (ratios.Count > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RGW / local, median of {ratios.Count} rounds: backup {Stats.Median(ratios.Select(r => r.Backup)):0.00}, restore {Stats.Median(ratios.Select(r => r.Restore)):0.00}"));
        }
    }

    private static (double Backup, double Restore, long Bytes) Measure(string repo, string[] extra, string root, string url)
    {
        Shell.Blueback(["repo", "init", repo, .. extra]);
        var backup = JsonDocument.Parse(Shell.Blueback(["backup", "--server", url, "--repo", repo, "--type", "full", "--json", "--parallel", "4", .. extra])).RootElement;
        long bytes = backup.GetProperty("bytes").GetInt64();
        double backupRate = bytes / backup.GetProperty("seconds").GetDouble();
        var target = Path.Combine(root, "rgwbench-restored");
        var sw = Stopwatch.StartNew();
        Shell.Blueback(["restore", "--repo", repo, "--to", target, "--parallel", "4", .. extra]);
        double restoreRate = bytes / sw.Elapsed.TotalSeconds;
        Directory.Delete(target, recursive: true);
        return (backupRate, restoreRate, bytes);
    }
}
