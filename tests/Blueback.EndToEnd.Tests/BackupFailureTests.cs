using System.Diagnostics;
using System.Text.Json;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary>A backup program that fails or dies never costs the server a log generation some set still needs.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class BackupFailureTests
{
    private static (int Exit, string Out, string Err) Cli(params string[] args)
    {
        var (exit, output, error, _) = BackupProgramTests.Cli(args);
        return (exit, output, error);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_full_repository_disk_fails_the_backup_cleanly_without_truncating()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await BackupApiTests.FillAsync(c); // 24 MB of incompressible values
        var repo = dir["small"];
        Directory.CreateDirectory(repo);
        NetworkNamespace.Run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", repo);
        try
        {
            Assert.Equal(0, Cli("repo", "init", repo).Exit);
            var before = (await c.StatusAsync()).Instances[0];
            var r = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full", "--no-compress");
            Assert.NotEqual(0, r.Exit);
            Assert.Contains("space", r.Err + r.Out, StringComparison.OrdinalIgnoreCase);
            Assert.Equal("[]", Cli("list", "--repo", repo, "--json").Out.Trim());
            var after = (await c.StatusAsync()).Instances[0];
            Assert.False(after.BackupInProgress);
            Assert.Equal(before.OldestGeneration, after.OldestGeneration); // nothing truncated
            Assert.DoesNotContain(Directory.GetDirectories(Path.Combine(repo, "sets")), d => File.Exists(Path.Combine(d, "manifest.json")));
        }
        finally
        {
            NetworkNamespace.Run("umount", "-l", repo);
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task Killing_incremental_backups_at_random_moments_never_leaves_a_log_gap()
    {
        using var dir = new TempDir();
        var config = dir["c.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "logGenerationSize": 262144, "databases": [ { "name": "mailbox" }, { "name": "public" } ] } ], "backupLeaseSeconds": 3 }""");
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        var repo = dir["repo"];
        Assert.Equal(0, Cli("repo", "init", repo).Exit);
        await BackupApiTests.FillAsync(c);
        Assert.Equal(0, Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full").Exit);
        var rng = new Random(9);
        for (int i = 0; i < 6; i++)
        {
            await BackupApiTests.FillAsync(c); // new generations for the incremental to carry
            var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--no-compress"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var p = Process.Start(psi)!;
            _ = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            await Task.Delay(rng.Next(300, 1500));
            p.Kill(entireProcessTree: true);
            Assert.True(p.WaitForExit(10_000));
            await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(5));
            // Whether the kill came before the commit (no set, nothing truncated) or after it (a whole set, maybe
            // truncated), the chain continues: the next incremental finds every generation it needs.
            var next = Cli("backup", "--server", server.Url, "--repo", repo, "--type", "incremental");
            Assert.True(next.Exit == 0, $"round {i}: {next.Err}");
        }
        var v = Cli("verify", "--repo", repo);
        Assert.True(v.Exit == 0, v.Out);
        var sets = JsonDocument.Parse(Cli("list", "--repo", repo, "--json").Out).RootElement;
        Assert.True(sets.GetArrayLength() >= 7);
    }
}
