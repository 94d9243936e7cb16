using System.Diagnostics;
using System.Text.Json;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.EndToEnd.Tests.Stores;

/// <summary>The scenarios a store (or a file system) is put through: a repository made, full and changed-pages
/// incremental backups under writers, list, verify, an exact offline restore, a second full, forget and gc (with a
/// leftover set), then a damaged object found by verify and named.</summary>
public abstract class StoreScenarios<TStore>(TStore store) : IClassFixture<TStore>
    where TStore : class, IStoreUnderTest
{
    protected TStore Store { get; } = store;

    protected (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli([.. args, .. Store.Args]);

    protected static string Ok((int Exit, string Out, string Err, TimeSpan Took) r, string what)
    {
        Assert.True(r.Exit == 0, $"{what}: exit {r.Exit}\n{r.Out}\n{r.Err}");
        return r.Out;
    }

    /// <summary>The life of a repository, with the server's data directory and the restores in the store's scratch.</summary>
    protected async Task LifecycleAsync(bool encrypted)
    {
        using var dir = Store.Scratch();
        var repo = Store.Repo($"life-{(encrypted ? "enc" : "plain")}-{Guid.NewGuid():N}");
        string[] key = encrypted ? ["--key-file", dir["repo.key"]] : [];
        var init = Ok(Cli(["repo", "init", repo, .. encrypted ? new[] { "--encrypt" } : [], .. key]), "repo init");
        if (encrypted)
        {
            Assert.Contains("encrypted", init, StringComparison.Ordinal);
        }
        string full, inc, full2;
        long[] acked;
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            await BackupApiTests.FillAsync(c);
            var writers = new RestoreProgramTests.Writers(c, 3);
            await Task.Delay(500);
            await writers.DisposeAsync();
            acked = writers.Snapshot();
            full = SetOf(Ok(Cli(["backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json", .. key]), "full backup"));
            await BackupApiTests.FillAsync(c); // the same keys, new values: changed pages for the incremental
            inc = SetOf(Ok(Cli(["backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--changed-pages", "--json", .. key]), "changed-pages incremental"));
            var listed = JsonDocument.Parse(Ok(Cli(["list", "--repo", repo, "--json", .. key]), "list")).RootElement;
            Assert.Equal([full, inc], listed.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
            Ok(Cli(["verify", "--repo", repo, .. key]), "verify");

            Ok(Cli(["restore", "--repo", repo, "--to", dir["restored"], .. key]), "restore");
            Assert.Equal(acked, RestoreProgramTests.StateOf(Path.Combine(dir["restored"], "store"), 3));

            full2 = SetOf(Ok(Cli(["backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json", .. key]), "second full backup"));
        }

        // A leftover of a backup that died (a set with no manifest) goes with the forgotten sets.
        await Store.PutAsync(repo, "sets/deadbeef/chunks/0000-000000", "partial"u8.ToArray());
        Ok(Cli(["forget", "--repo", repo, "--keep-last", "1", .. key]), "forget");
        var gc = Ok(Cli(["repo", "gc", "--repo", repo, "--grace", "0", .. key]), "repo gc");
        Assert.Contains("deadbeef", gc, StringComparison.Ordinal);
        Assert.Empty(await Store.ListAsync(repo, "sets/deadbeef/"));
        Assert.Empty(await Store.ListAsync(repo, $"sets/{full}/"));
        var left = JsonDocument.Parse(Ok(Cli(["list", "--repo", repo, "--json", .. key]), "list after gc")).RootElement;
        Assert.Equal([full2], left.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        var head = left.EnumerateArray().Single().GetProperty("chainHead").GetString()!;
        Assert.Contains("chain: ", Ok(Cli(["verify", "--repo", repo, "--expect-head", head, .. key]), "verify after gc"), StringComparison.Ordinal);

        // Format 2: the set's chunks are the repository's shared ones, under chunks/ (the largest: a page chunk).
        var chunk = (await Store.ListAsync(repo, "chunks/")).OrderByDescending(o => o.Size).ThenBy(o => o.Key, StringComparer.Ordinal).First().Key;
        await Store.FlipByteAsync(repo, chunk);
        var verify = Cli(["verify", "--repo", repo, .. key]);
        Assert.NotEqual(0, verify.Exit);
        Assert.Contains(chunk, verify.Out, StringComparison.Ordinal);
        var restore = Cli(["restore", "--repo", repo, "--to", dir["restored2"], .. key]);
        Assert.NotEqual(0, restore.Exit);
        Assert.Contains("damaged", restore.Err, StringComparison.Ordinal);
    }

    protected static string SetOf(string json) => JsonDocument.Parse(json).RootElement.GetProperty("set").GetString()!;

    /// <summary>The chain's create-only entries on this store: commits from separate repository objects (as separate
    /// backup processes) racing for the same sequence numbers leave one contiguous chain with an entry each; the
    /// newest entry removed behind the program's back is named against the head recorded before.</summary>
    [Fact(Timeout = 600_000)]
    public async Task Commits_racing_leave_one_chain_and_a_chain_cut_short_is_named()
    {
        var repo = Store.Repo($"chain-{Guid.NewGuid():N}");
        var settings = new S3Settings(Store.Args.Length > 1 ? Store.Args[1] : null);
        await BackupRepository.InitAsync(RepositoryStores.Open(repo, settings));
        var commits = Enumerable.Range(0, 6).Select(async i =>
        {
            var own = await BackupRepository.OpenAsync(RepositoryStores.Open(repo, settings));
            var w = own.BeginSet($"race-{i}", Repository.Compression.Codec.None, 64 << 10);
            await w.AddFileAsync("extra/x.bin", new MemoryStream(new byte[1000 + i]));
            await w.CommitAsync(new Manifest { RepositoryId = own.Id, SetId = w.SetId, Codec = w.CodecName, Files = [.. w.Files], Instance = "store", Type = "copy", GenLow = 1, GenHigh = 1, Ended = DateTime.UtcNow });
        });
        await Task.WhenAll(commits).WaitAsync(TimeSpan.FromMinutes(5));
        var check = await (await BackupRepository.OpenAsync(RepositoryStores.Open(repo, settings))).CheckChainAsync(null);
        Assert.True(check.Problems.Count == 0, string.Join("\n", check.Problems));
        Assert.Equal(7, check.Entries);
        Assert.Equal(7, (await Store.ListAsync(repo, "chain/")).Count);

        var head = check.Head!.Value.ToString();
        var store = RepositoryStores.Open(repo, settings);
        await store.DeleteAsync(BackupRepository.ChainEntryKey(7), CancellationToken.None);
        var cut = Cli("verify", "--repo", repo, "--set", "race-0", "--expect-head", head);
        Assert.True(cut.Exit == 1, $"exit {cut.Exit}\n{cut.Out}\n{cut.Err}");
        Assert.Contains("it ends at entry 6, but its head was entry 7 when recorded", cut.Out, StringComparison.Ordinal);
    }
}

/// <summary>The same scenarios against every store (one class per store below), encrypted and not.</summary>
public abstract partial class StoreSuite<TStore>(TStore store) : StoreScenarios<TStore>(store)
    where TStore : class, IStoreUnderTest
{
    [Theory(Timeout = 900_000)]
    [InlineData(false)]
    [InlineData(true)]
    public Task Init_backups_list_verify_restore_forget_gc_and_a_damaged_object_found(bool encrypted) => LifecycleAsync(encrypted);
}

/// <summary>The faults only a networked store has, through a <see cref="FaultProxy"/> in front of it: the endpoint
/// unreachable for a while and back, 503 SlowDown, a multipart upload cut off; and the store's own checks.</summary>
public abstract class S3StoreSuite<TStore>(TStore store) : StoreSuite<TStore>(store)
    where TStore : S3StoreUnderTest
{
    private (int Exit, string Out, string Err, TimeSpan Took) Via(FaultProxy proxy, params string[] args) =>
        BackupProgramTests.Cli([.. args, "--s3-endpoint", proxy.Endpoint]);

    [Fact(Timeout = 600_000)]
    public async Task A_backup_rides_out_the_endpoint_unreachable_for_a_while_and_503_slowdowns()
    {
        using var dir = new TempDir();
        using var proxy = new FaultProxy(Store.Port);
        var repo = Store.Repo($"faults-{Guid.NewGuid():N}");
        Ok(Via(proxy, "repo", "init", repo), "repo init");
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);

        // A backup whose first 4 requests are answered 503 SlowDown completes.
        proxy.SlowDown(4);
        var full = SetOf(Ok(Via(proxy, "backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json"), "backup through 4 SlowDowns"));
        Assert.Equal(4, proxy.SlowDownsGiven);

        // The endpoint goes away for 5 s just as the next backup starts (each fault is a few tries of one call,
        // within its retries; timed by the requests, not raced against the upload's speed).
        await BackupApiTests.FillAsync(c);
        var outage = proxy.OutageAsync(TimeSpan.FromSeconds(5));
        var sw = Stopwatch.StartNew();
        var inc = Via(proxy, "backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json");
        await outage;
        var set = SetOf(Ok(inc, "backup across a 5 s outage"));
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(5), $"the backup took {sw.Elapsed.TotalSeconds:0.0} s: it cannot have met the outage");
        var verify = Ok(Cli(["verify", "--repo", repo]), "verify after the faults");
        Assert.Contains(full, verify, StringComparison.Ordinal);
        Assert.Contains(set, verify, StringComparison.Ordinal);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_lasting_outage_fails_the_command_saying_it_retried_and_naming_the_endpoint()
    {
        using var proxy = new FaultProxy(Store.Port);
        var repo = Store.Repo($"down-{Guid.NewGuid():N}");
        var outage = proxy.OutageAsync(TimeSpan.FromSeconds(60));
        var init = Via(proxy, "repo", "init", repo);
        Assert.NotEqual(0, init.Exit);
        Assert.Contains("reachable", init.Err, StringComparison.Ordinal);
        Assert.Contains("retried 6 time(s)", init.Err, StringComparison.Ordinal);
        Assert.Contains(proxy.Endpoint, init.Err, StringComparison.Ordinal);
        await outage;
    }

    [Fact(Timeout = 300_000)]
    public async Task A_multipart_upload_cut_off_is_retried_whole_and_an_unfinished_one_is_cleaned_up()
    {
        using var proxy = new FaultProxy(Store.Port);
        var location = Store.Repo($"unit-{Guid.NewGuid():N}");
        var options = new S3Options { Endpoint = proxy.Endpoint, PathStyle = true, MultipartThreshold = 6 << 20, PartSize = 5 << 20, RetryBaseDelay = TimeSpan.FromMilliseconds(100) };
        using var s3 = new S3Store(location, options);
        var big = new byte[12 << 20];
        Random.Shared.NextBytes(big);
        proxy.CutParts(1);
        await s3.WriteAsync("big", big, default); // three parts, one cut off: the upload retried, the combined ETag checked
        Assert.Equal(1, proxy.PartsCut);
        Assert.Equal(big, await s3.ReadAsync("big", default));
        var into = new byte[big.Length + 10];
        Assert.Equal(big.Length, await s3.ReadIntoAsync("big", into, default));

        // Every part cut: the write fails after its retries, naming the object, and leaves no upload behind.
        using (var twice = new S3Store(location, options with { MaxRetries = 1 }))
        {
            proxy.CutParts(1000);
            var ex = await Assert.ThrowsAsync<RepositoryException>(() => twice.WriteAsync("cut", big, default));
            proxy.CutParts(0);
            Assert.Contains("/cut'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("retried 1 time(s)", ex.Message, StringComparison.Ordinal);
            Assert.True(proxy.PartsCut >= 2, $"{proxy.PartsCut} part(s) cut");
            Assert.False(await s3.ExistsAsync("cut", default));
        }
        // Create-if-absent, listing, and an unfinished upload (a process that died) removed by the clean-up.
        Assert.True(await s3.TryCreateAsync("locks/x", "a"u8.ToArray(), default));
        Assert.False(await s3.TryCreateAsync("locks/x", "b"u8.ToArray(), default));
        Assert.Equal("a"u8.ToArray(), await s3.ReadAsync("locks/x", default));
        Assert.Equal(["big", "locks"], await s3.ListAsync("", default));
        using (var client = Store.Client())
        {
            await client.InitiateMultipartUploadAsync(S3StoreUnderTest.Bucket, $"{location[$"s3://{S3StoreUnderTest.Bucket}/".Length..]}/sets/x/chunks/0000-000000");
        }
        await Task.Delay(1100); // RGW dates uploads to the second
        var removed = await s3.CleanUpAsync(TimeSpan.Zero, default);
        Assert.Contains(removed, r => r.Contains("sets/x/chunks/0000-000000", StringComparison.Ordinal));
        Assert.DoesNotContain(removed, r => r.Contains("of cut ", StringComparison.Ordinal)); // aborted when it failed
        Assert.Empty(await s3.CleanUpAsync(TimeSpan.Zero, default));
        await s3.DeletePrefixAsync("locks", default);
        Assert.False(await s3.ExistsAsync("locks/x", default));
    }
}

/// <summary>The suite against a local directory.</summary>
[Trait(Tier.Category, Tier.Slow)]
public sealed class LocalStoreSuite(LocalStoreUnderTest store) : StoreSuite<LocalStoreUnderTest>(store);

/// <summary>The suite against moto.</summary>
[Trait(Tier.Category, Tier.Slow)]
public sealed class MotoStoreSuite(MotoStoreUnderTest store) : S3StoreSuite<MotoStoreUnderTest>(store);

/// <summary>The suite against Ceph's RADOS Gateway 16.2 (a cluster started for it: the Stress tier).</summary>
[Trait(Tier.Category, Tier.Stress)]
public sealed class RgwStoreSuite(RgwStoreUnderTest store) : S3StoreSuite<RgwStoreUnderTest>(store);

/// <summary>The scenarios with everything on one file system: the server's data directory (its pages, logs and
/// lock), the repository and the restore targets (the Stress tier: each mounts its own; NFS is not among them:
/// this machine's kernel has neither an NFS client nor nfsd, docs/reliability.md).</summary>
public abstract class FileSystemSuite<TFileSystem>(TFileSystem fs) : StoreScenarios<TFileSystem>(fs)
    where TFileSystem : FileSystemUnderTest
{
    [Fact(Timeout = 900_000)]
    public Task The_server_writes_backs_up_and_restores_with_everything_on_it() => LifecycleAsync(encrypted: false);
}

[Trait(Tier.Category, Tier.Stress)]
public sealed class Ext4Suite(Ext4FileSystem fs) : FileSystemSuite<Ext4FileSystem>(fs);

[Trait(Tier.Category, Tier.Stress)]
public sealed class XfsSuite(XfsFileSystem fs) : FileSystemSuite<XfsFileSystem>(fs);

[Trait(Tier.Category, Tier.Stress)]
public sealed class BtrfsSuite(BtrfsFileSystem fs) : FileSystemSuite<BtrfsFileSystem>(fs);

[Trait(Tier.Category, Tier.Stress)]
public sealed class TmpfsSuite(TmpfsFileSystem fs) : FileSystemSuite<TmpfsFileSystem>(fs);

[Trait(Tier.Category, Tier.Stress)]
public sealed class FuseSuite(FuseFileSystem fs) : FileSystemSuite<FuseFileSystem>(fs);
