using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Blueback.Client;
using Blueback.Repository;

namespace Blueback.EndToEnd.Tests.Stores;

/// <summary>An immutable repository on each store: nothing of a set can be deleted or replaced by the store's own keys
/// while it is locked (on S3: a delete of a locked version is refused, an overwrite leaves the locked version), a
/// forget and gc before the lock expires leave the set hidden from list but restorable by its id, and a gc after the
/// lock expired frees it. The retention is seconds, through the test hook, so the test sees it expire.</summary>
public abstract partial class StoreSuite<TStore>
    where TStore : class, IStoreUnderTest
{
    private const int ImmutableSeconds = 90;

    [Fact(Timeout = 900_000)]
    public async Task An_immutable_repository_refuses_deletes_keeps_a_forgotten_set_until_its_lock_expires_then_frees_it()
    {
        using var dir = Store.Scratch();
        var name = $"imm-{Guid.NewGuid():N}";
        var repo = Store.Repo(name);
        var s3 = Store as S3StoreUnderTest;
        if (s3 is not null)
        {
            var plain = Cli("repo", "init", repo, "--immutable-days", "1");
            Assert.True(plain.Exit != 0, $"a bucket without Object Lock was taken\n{plain.Out}");
            Assert.Contains($"Bucket '{S3StoreUnderTest.Bucket}'", plain.Err, StringComparison.Ordinal);
            Assert.Contains("object-lock-enabled-for-bucket", plain.Err, StringComparison.Ordinal);
            await s3.CreateLockedBucketAsync();
            repo = s3.LockedRepo(name);
        }
        var hook = new Dictionary<string, string?> { [ImmutabilityConfig.TestSecondsVariable] = ImmutableSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        Ok(BackupProgramTests.CliWith(hook, ["repo", "init", repo, "--immutable-days", "1", "--lock-mode", "compliance", .. Store.Args]), "repo init --immutable-days");
        var info = JsonDocument.Parse(Ok(Cli("repo", "info", "--repo", repo, "--json"), "repo info")).RootElement.GetProperty("immutable");
        Assert.Equal(ImmutableSeconds, info.GetProperty("seconds").GetInt64());
        Assert.Equal("compliance", info.GetProperty("lockMode").GetString());

        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        var first = SetOf(Ok(Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json"), "first full backup"));
        if (s3 is not null)
        {
            await DeletesAndOverwritesAreRefusedAsync(s3, name, first);
        }
        await BackupApiTests.FillAsync(c);
        var second = SetOf(Ok(Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json"), "second full backup"));
        var listed = JsonDocument.Parse(Ok(Cli("list", "--repo", repo, "--json"), "list")).RootElement.EnumerateArray().ToList();
        Assert.Equal([first, second], listed.Where(e => e.TryGetProperty("id", out _)).Select(e => e.GetProperty("id").GetString()));
        Assert.All(listed.Where(e => e.TryGetProperty("id", out _)), e => Assert.True(e.TryGetProperty("lockedUntil", out _), "an immutable set shows until when it is locked"));

        Ok(Cli("forget", "--repo", repo, "--keep-last", "1"), "forget");
        var before = JsonDocument.Parse(Ok(Cli("repo", "gc", "--repo", repo, "--grace", "0", "--json"), "gc before the lock expires")).RootElement;
        Assert.Equal([first], before.GetProperty("lockedSets").EnumerateArray().Select(x => x.GetString()));
        Assert.True(before.GetProperty("lockedObjects").GetInt32() > 0);
        Assert.True(before.GetProperty("lockedBytes").GetInt64() > 0);
        var unlock = before.GetProperty("lastUnlock").GetDateTime();
        Assert.Equal([second], JsonDocument.Parse(Ok(Cli("list", "--repo", repo, "--json"), "list after forget")).RootElement.EnumerateArray()
            .Where(e => e.TryGetProperty("id", out _)).Select(e => e.GetProperty("id").GetString()));
        Ok(Cli("restore", "--repo", repo, "--set", first, "--to", dir["restored-forgotten"]), "restore of the forgotten set by its id, before its lock expires");
        Assert.True(Directory.Exists(Path.Combine(dir["restored-forgotten"], "store")));
        var text = Ok(Cli("repo", "gc", "--repo", repo, "--grace", "0"), "gc (text) before the lock expires");
        Assert.Contains("Waiting for their lock", text, StringComparison.Ordinal);
        Assert.Contains(first, text, StringComparison.Ordinal);

        var wait = unlock.ToUniversalTime() - DateTime.UtcNow + TimeSpan.FromSeconds(2);
        Assert.True(wait < TimeSpan.FromSeconds(ImmutableSeconds + 30), $"the lock ends at {unlock:O}, not within the retention");
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
        var after = JsonDocument.Parse(Ok(Cli("repo", "gc", "--repo", repo, "--grace", "0", "--json"), "gc after the lock expired")).RootElement;
        Assert.Contains(first, after.GetProperty("removed").EnumerateArray().Select(x => x.GetString()));
        Assert.True(after.GetProperty("chunksRemoved").GetInt32() > 0, "the forgotten set's own chunks are freed");
        Assert.NotEqual(0, Cli("restore", "--repo", repo, "--set", first, "--to", dir["restored-gone"]).Exit);
        Assert.Empty(await Store.ListAsync(repo, $"sets/{first}/"));
        Ok(Cli("verify", "--repo", repo), "verify after gc");
    }

    /// <summary>By the store's own keys, behind the program's back: a delete of each locked version of every object
    /// of the first set (its own objects and the chunks, all written by its backup) is refused, and an overwrite of the
    /// manifest leaves the locked version (removing the overwrite, which is not locked, brings the manifest back).
    /// Where the store answers GetObjectRetention (RGW; moto answers 500), each object's retention is read first: the
    /// mode asked for, until its write plus the retention; one whose lock already ran out (a slow backup on a busy
    /// machine) is left alone, but never the manifest.</summary>
    private static async Task DeletesAndOverwritesAreRefusedAsync(S3StoreUnderTest s3, string name, string set)
    {
        using var client = s3.Client();
        var versions = ((await client.ListVersionsAsync(new ListVersionsRequest { BucketName = S3StoreUnderTest.LockedBucket, Prefix = name + "/" })).Versions ?? [])
            .Where(v => v.Key.Contains($"/sets/{set}/", StringComparison.Ordinal) || v.Key.Contains("/chunks/", StringComparison.Ordinal)).ToList();
        Assert.Contains(versions, v => v.Key.EndsWith($"sets/{set}/manifest.json", StringComparison.Ordinal));
        Assert.Contains(versions, v => v.Key.Contains("/chunks/", StringComparison.Ordinal));
        if (s3.ReadsRetention)
        {
            var still = new List<S3ObjectVersion>();
            foreach (var v in versions)
            {
                var retention = (await client.GetObjectRetentionAsync(new GetObjectRetentionRequest { BucketName = S3StoreUnderTest.LockedBucket, Key = v.Key, VersionId = v.VersionId })).Retention;
                Assert.Equal(ObjectLockRetentionMode.Compliance, retention.Mode);
                var written = v.LastModified!.Value.ToUniversalTime();
                Assert.InRange(retention.RetainUntilDate!.Value.ToUniversalTime(), written + TimeSpan.FromSeconds(ImmutableSeconds - 5), written + TimeSpan.FromSeconds(ImmutableSeconds + 5));
                if (retention.RetainUntilDate.Value.ToUniversalTime() > DateTime.UtcNow + TimeSpan.FromSeconds(10))
                {
                    still.Add(v);
                }
            }
            Assert.Contains(still, v => v.Key.EndsWith("/manifest.json", StringComparison.Ordinal));
            versions = still;
        }
        foreach (var v in versions)
        {
            var refused = await Assert.ThrowsAsync<AmazonS3Exception>(() => client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = S3StoreUnderTest.LockedBucket, Key = v.Key, VersionId = v.VersionId }));
            Assert.Equal("AccessDenied", refused.ErrorCode);
        }
        var manifestKey = $"{name}/sets/{set}/manifest.json";
        var locked = versions.Single(v => v.Key == manifestKey);
        var original = await ReadAsync(client, manifestKey, locked.VersionId);
        var put = await client.PutObjectAsync(new PutObjectRequest { BucketName = S3StoreUnderTest.LockedBucket, Key = manifestKey, ContentBody = "{}" });
        Assert.Equal(original, await ReadAsync(client, manifestKey, locked.VersionId));
        await client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = S3StoreUnderTest.LockedBucket, Key = manifestKey, VersionId = put.VersionId });
        Assert.Equal(original, await ReadAsync(client, manifestKey, null));
    }

    private static async Task<byte[]> ReadAsync(AmazonS3Client client, string key, string? version)
    {
        using var get = await client.GetObjectAsync(new GetObjectRequest { BucketName = S3StoreUnderTest.LockedBucket, Key = key, VersionId = version });
        using var ms = new MemoryStream();
        await get.ResponseStream.CopyToAsync(ms);
        return ms.ToArray();
    }
}
