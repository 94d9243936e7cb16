using System.Diagnostics;
using System.Text.Json;
using Amazon.S3.Model;
using Blueback.Client;
using Blueback.Repository.Stores;

namespace Blueback.EndToEnd.Tests;

/// <summary>An S3 store (moto) lost for good mid-upload. The scenarios every store shares (the round trip, a
/// damaged object, the store's own checks, outages, SlowDown, a multipart upload cut off) are the store suite's,
/// run against a directory, moto and Ceph RGW: Stores/StoreSuite.cs.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class S3RepositoryTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static string[] S3(MotoServer moto) => ["--s3-endpoint", moto.Endpoint];

    [Fact(Timeout = 300_000)]
    public async Task The_store_going_away_mid_upload_fails_the_backup_promptly_with_no_set_and_the_server_session_aborted()
    {
        using var dir = new TempDir();
        var moto = await MotoServer.StartAsync();
        var repo = $"s3://{MotoServer.Bucket}/r";
        Assert.Equal(0, Cli(["repo", "init", repo, .. S3(moto)]).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        // Slowed to about 4 MB/s so that the store can be closed in the middle.
        var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--max-rate", "4M", "--no-compress", .. S3(moto)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        await WaitForFirstChunkAsync(moto, p);
        Assert.False(p.HasExited, "the backup should still be uploading");
        var sw = Stopwatch.StartNew();
        moto.Dispose();
        Assert.True(p.WaitForExit(60_000), "the backup hung after the store went away");
        Assert.NotEqual(0, p.ExitCode);
        var message = await err;
        Assert.Contains("No set was written", message, StringComparison.Ordinal);
        Assert.Contains("reachable", message, StringComparison.Ordinal);
        await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(5));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed.TotalSeconds:0} s to give up");

        // A new store: the next backup succeeds.
        using var moto2 = await MotoServer.StartAsync();
        Assert.Equal(0, Cli(["repo", "init", repo, .. S3(moto2)]).Exit);
        var next = Cli(["backup", "--server", server.Url, "--repo", repo, .. S3(moto2)]);
        Assert.True(next.Exit == 0, next.Err);
    }

    /// <summary>Waits until the backup has stored its first chunk: the upload is then under way, whatever the
    /// machine's load made of the program's start (a fixed delay could fire while it was still starting).</summary>
    private static async Task WaitForFirstChunkAsync(MotoServer moto, Process backup)
    {
        using var client = moto.Client();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(backup.HasExited, "the backup ended before it had stored a chunk");
            var listed = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = MotoServer.Bucket, Prefix = "r/chunks/" }); // format 2's shared chunks
            if (listed.S3Objects?.Count > 0)
            {
                return;
            }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "the backup stored no chunk within 60 s");
            await Task.Delay(100);
        }
    }
}
