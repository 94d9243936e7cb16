using System.Text.Json;
using Blueback.Backup;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Repository.Stores;
using Blueback.Storage.Backup;

namespace Blueback.EndToEnd.Tests;

/// <summary>A stop or a failure that comes after the set's commit (the soak's library cancels met the first: a
/// cancelled call left a listed set with nothing saying so; its failure drills met the second: the program said "no
/// set was written" beside a listed set).</summary>
[Trait(Tier.Category, Tier.Slow)]
public class BackupStoppedAfterCommitTests
{
    [Fact(Timeout = 120_000)]
    public async Task A_backup_stopped_after_its_commit_says_the_set_exists_and_truncates_nothing()
    {
        using var cts = new CancellationTokenSource();
        // The stop lands exactly between the commit and the truncation.
        var stopped = await AfterCommitAsync<BackupStoppedAfterCommitException>(async ct =>
        {
            await cts.CancelAsync();
            ct.ThrowIfCancellationRequested();
        }, cts.Token);
        Assert.Contains("not truncated", stopped.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_backup_that_fails_after_its_commit_names_the_set_that_exists_and_truncates_nothing()
    {
        // The failure lands exactly between the commit and the truncation, as a server gone away would.
        var failed = await AfterCommitAsync<BackupFailedAfterCommitException>(_ => throw new HttpRequestException("the server went away"), CancellationToken.None);
        Assert.Contains($"Set {failed.SetId} was committed", failed.Message, StringComparison.Ordinal);
        Assert.Contains("the server went away", failed.Message, StringComparison.Ordinal);
        Assert.IsType<HttpRequestException>(failed.InnerException);
    }

    /// <summary>A full backup of a filled server through the library with <paramref name="afterCommit"/> between its
    /// commit and its truncation: it must throw <typeparamref name="T"/> naming the set, which is listed and whole,
    /// with no log truncated and no session left.</summary>
    private static async Task<T> AfterCommitAsync<T>(Func<CancellationToken, Task> afterCommit, CancellationToken ct) where T : Exception
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c);
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir["repo"]));
        var oldest = (await c.StatusAsync()).Instances[0].OldestGeneration;
        var request = new BackupRequest("store", BackupType.Full) { AfterCommit = afterCommit };

        var thrown = await Assert.ThrowsAsync<T>(() => BackupJob.RunAsync(c, repo, request, null, ct));

        var listed = Assert.Single(await repo.ListSetsAsync());
        var named = thrown switch { BackupStoppedAfterCommitException s => s.SetId, BackupFailedAfterCommitException f => f.SetId, _ => "" };
        Assert.Equal(listed.SetId, named);
        Assert.Contains(named, thrown.Message, StringComparison.Ordinal);
        await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(2)); // aborted, not left to its lease
        Assert.Equal(oldest, (await c.StatusAsync()).Instances[0].OldestGeneration);
        Assert.Empty(await SetVerification.VerifyAsync(repo, listed, [listed], CancellationToken.None));
        return thrown;
    }

    [Fact(Timeout = 180_000)]
    public async Task The_program_whose_server_dies_after_the_commit_exits_2_naming_the_listed_set()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using (var c = new BluebackClient(server.Url))
        {
            await BackupApiTests.FillAsync(c);
        }
        var repo = dir["repo"];
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet", [ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json"]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment[Blueback.Cli.Commands.BackupCommand.FailpointVariable] = "after-commit";
        using var p = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var err = new System.Text.StringBuilder();
            string? line;
            while ((line = await p.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))) is not null && !line.Contains("failpoint after-commit", StringComparison.Ordinal))
            {
                err.AppendLine(line);
            }
            Assert.True(line is not null, $"blueback backup ended before its failpoint: {err}");
            server.Kill(); // the truncation and the session's end now meet no server
            var rest = await p.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(90));
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            var list = BackupProgramTests.Cli("list", "--repo", repo, "--json");
            var id = Assert.Single(JsonDocument.Parse(list.Out).RootElement.EnumerateArray()).GetProperty("id").GetString()!;
            Assert.True(p.ExitCode == 2, $"exit {p.ExitCode}: {rest}");
            // --json says it too, for a program reading the output (a policy records the set as taken).
            var said = JsonDocument.Parse(await stdout).RootElement;
            Assert.Equal(id, said.GetProperty("set").GetString());
            Assert.True(said.GetProperty("committed").GetBoolean());
            Assert.NotEqual("stopped", said.GetProperty("afterCommit").GetString());
            Assert.Contains($"Set {id} was committed: it is complete and listed", rest, StringComparison.Ordinal);
            Assert.DoesNotContain("No set was written", rest, StringComparison.Ordinal);
            var verify = BackupProgramTests.Cli("verify", "--repo", repo);
            Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
    }
}
