using System.Diagnostics;
using System.Text.Json;
using Amazon.S3.Model;
using Blueback.Client;
using Blueback.Repository.Stores;

namespace Blueback.EndToEnd.Tests;

/// <summary>Repositories in an S3-compatible store (moto), through the same commands as a directory: the whole
/// round trip under load, the store going away mid-upload, a damaged object found by verify, and the store's own
/// checks (multipart, create-if-absent, unfinished uploads cleaned up).</summary>
[Trait(Tier.Category, Tier.Slow)]
public class S3RepositoryTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static string[] S3(MotoServer moto) => ["--s3-endpoint", moto.Endpoint];

    [Fact(Timeout = 600_000)]
    public async Task Backup_under_load_verify_list_restore_and_gc_work_against_an_s3_store()
    {
        using var dir = new TempDir();
        using var moto = await MotoServer.StartAsync();
        var repo = $"s3://{MotoServer.Bucket}/team/blueback";
        var init = Cli(["repo", "init", repo, .. S3(moto)]);
        Assert.True(init.Exit == 0, init.Err);
        long[] beforeFull;
        string full, inc;
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            await BackupApiTests.FillAsync(c); // 24 MB, so chunks of several MiB go up in parallel
            await using var writers = new RestoreProgramTests.Writers(c, 3);
            await Task.Delay(300);
            beforeFull = writers.Snapshot();
            var b = Cli(["backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json", "--parallel", "8", .. S3(moto)]);
            Assert.True(b.Exit == 0, b.Err);
            full = JsonDocument.Parse(b.Out).RootElement.GetProperty("set").GetString()!;
            await Task.Delay(300);
            b = Cli(["backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json", .. S3(moto)]);
            Assert.True(b.Exit == 0, b.Err);
            inc = JsonDocument.Parse(b.Out).RootElement.GetProperty("set").GetString()!;
        }
        var list = JsonDocument.Parse(Cli(["list", "--repo", repo, "--json", .. S3(moto)]).Out).RootElement;
        Assert.Equal([full, inc], list.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        var verify = Cli(["verify", "--repo", repo, .. S3(moto)]);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);

        var restore = Cli(["restore", "--repo", repo, "--to", dir["restored"], .. S3(moto)]);
        Assert.True(restore.Exit == 0, restore.Err);
        var state = RestoreProgramTests.StateOf(Path.Combine(dir["restored"], "store"), 3);
        Assert.True(state.Zip(beforeFull).All(p => p.First >= p.Second));

        // A leftover (a set without a manifest, an unfinished multipart upload) is removed by gc once past the grace.
        using (var client = moto.Client())
        {
            await client.PutObjectAsync(new PutObjectRequest { BucketName = MotoServer.Bucket, Key = "team/blueback/sets/deadbeef/chunks/0000-000000", ContentBody = "partial" });
            await client.InitiateMultipartUploadAsync(MotoServer.Bucket, "team/blueback/sets/deadbeef/chunks/0000-000001");
        }
        var young = Cli(["repo", "gc", "--repo", repo, .. S3(moto)]);
        Assert.Contains("deadbeef", young.Out, StringComparison.Ordinal);
        Assert.Contains("Left 1", young.Out, StringComparison.Ordinal);
        var gc = Cli(["repo", "gc", "--repo", repo, "--grace", "0", .. S3(moto)]);
        Assert.True(gc.Exit == 0, gc.Err);
        Assert.Contains("Removed 1 set", gc.Out, StringComparison.Ordinal);
        // moto reports every upload as begun in 2010, so the first gc already took it, grace or not.
        Assert.Contains("unfinished multipart upload", young.Out + gc.Out, StringComparison.Ordinal);
        Assert.Equal(2, JsonDocument.Parse(Cli(["list", "--repo", repo, "--json", .. S3(moto)]).Out).RootElement.GetArrayLength());
    }

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

    [Fact(Timeout = 300_000)]
    public async Task A_flipped_byte_in_a_stored_object_is_found_by_verify_and_named()
    {
        using var dir = new TempDir();
        using var moto = await MotoServer.StartAsync();
        var repo = $"s3://{MotoServer.Bucket}/r";
        Assert.Equal(0, Cli(["repo", "init", repo, .. S3(moto)]).Exit);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            await BackupApiTests.FillAsync(c);
            Assert.Equal(0, Cli(["backup", "--server", server.Url, "--repo", repo, .. S3(moto)]).Exit);
        }
        using var client = moto.Client();
        // Format 2: the set's chunks are the repository's shared ones, under chunks/ (the largest: a page chunk).
        var chunk = (await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = MotoServer.Bucket, Prefix = "r/chunks/" })).S3Objects!
            .OrderByDescending(o => o.Size).ThenBy(o => o.Key, StringComparer.Ordinal).First().Key;
        byte[] bytes;
        using (var get = await client.GetObjectAsync(MotoServer.Bucket, chunk))
        using (var ms = new MemoryStream())
        {
            await get.ResponseStream.CopyToAsync(ms);
            bytes = ms.ToArray();
        }
        bytes[bytes.Length / 2] ^= 0x40;
        await client.PutObjectAsync(new PutObjectRequest { BucketName = MotoServer.Bucket, Key = chunk, InputStream = new MemoryStream(bytes) });
        var verify = Cli(["verify", "--repo", repo, .. S3(moto)]);
        Assert.NotEqual(0, verify.Exit);
        Assert.Contains(chunk["r/".Length..], verify.Out, StringComparison.Ordinal);
        Assert.Contains("CRC32C mismatch", verify.Out, StringComparison.Ordinal);
        var restore = Cli(["restore", "--repo", repo, "--to", dir["restored"], .. S3(moto)]);
        Assert.NotEqual(0, restore.Exit);
        Assert.Contains("damaged", restore.Err, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task The_store_checks_multipart_uploads_creates_only_when_absent_and_cleans_up_unfinished_uploads()
    {
        using var moto = await MotoServer.StartAsync();
        using var store = new S3Store($"s3://{MotoServer.Bucket}/unit", new S3Options { Endpoint = moto.Endpoint, PathStyle = true, MultipartThreshold = 6 << 20, PartSize = 5 << 20 });
        var big = new byte[12 << 20];
        Random.Shared.NextBytes(big);
        await store.WriteAsync("big", big, default); // three parts, the combined ETag checked
        Assert.Equal(big, await store.ReadAsync("big", default));
        var into = new byte[big.Length + 10];
        Assert.Equal(big.Length, await store.ReadIntoAsync("big", into, default));

        Assert.True(await store.TryCreateAsync("locks/x", "a"u8.ToArray(), default));
        Assert.False(await store.TryCreateAsync("locks/x", "b"u8.ToArray(), default));
        Assert.Equal("a"u8.ToArray(), await store.ReadAsync("locks/x", default));

        Assert.Equal(["big", "locks"], await store.ListAsync("", default));
        Assert.False(await store.ExistsAsync("nothing", default));

        using var client = moto.Client();
        await client.InitiateMultipartUploadAsync(MotoServer.Bucket, "unit/sets/x/chunks/0000-000000");
        // (The age filter cannot be shown here: moto reports every upload as begun in 2010.)
        var removed = await store.CleanUpAsync(TimeSpan.Zero, default);
        Assert.Single(removed);
        await store.DeletePrefixAsync("locks", default);
        Assert.False(await store.ExistsAsync("locks/x", default));
    }
}
