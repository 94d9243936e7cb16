using Blueback.Backup;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Repository.Stores;
using Blueback.Storage.Backup;

namespace Blueback.EndToEnd.Tests;

/// <summary>A stop that comes after the set's commit (the soak's library cancels met it: a cancelled call left a
/// listed set with nothing saying so).</summary>
public class BackupStoppedAfterCommitTests
{
    [Fact(Timeout = 120_000)]
    public async Task A_backup_stopped_after_its_commit_says_the_set_exists_and_truncates_nothing()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir["repo"]));
        var oldest = (await c.StatusAsync()).Instances[0].OldestGeneration;
        using var cts = new CancellationTokenSource();
        var request = new BackupRequest("store", BackupType.Full)
        {
            // The stop lands exactly between the commit and the truncation.
            AfterCommit = async ct =>
            {
                await cts.CancelAsync();
                ct.ThrowIfCancellationRequested();
            },
        };

        var stopped = await Assert.ThrowsAsync<BackupStoppedAfterCommitException>(() => BackupJob.RunAsync(c, repo, request, null, cts.Token));

        var listed = Assert.Single(await repo.ListSetsAsync());
        Assert.Equal(listed.SetId, stopped.SetId);
        Assert.Contains(stopped.SetId, stopped.Message, StringComparison.Ordinal);
        Assert.Contains("not truncated", stopped.Message, StringComparison.Ordinal);
        await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(2)); // aborted, not left to its lease
        Assert.Equal(oldest, (await c.StatusAsync()).Instances[0].OldestGeneration);
        Assert.Empty(await SetVerification.VerifyAsync(repo, listed, [listed], CancellationToken.None));
    }
}
