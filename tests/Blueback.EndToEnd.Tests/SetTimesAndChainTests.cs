using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Storage;

namespace Blueback.EndToEnd.Tests;

/// <summary>A set's times are the server's, so a backup program whose clock is off cannot make <c>restore
/// --stop-at</c> pick the wrong sets; and a set that would not join its parent's chain is refused before anything
/// is committed or truncated.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class SetTimesAndChainTests
{
    /// <summary>Runs the program with its clock <paramref name="offset"/> away from the machine's (libfaketime, for
    /// this process only; the server keeps the true time).</summary>
    private static (int Exit, string Out, string Err) CliSkewed(string offset, params string[] args)
    {
        var psi = new ProcessStartInfo("faketime", ["-f", offset, "dotnet", ServerProcess.Cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"; // timers and timeouts run on the true monotonic clock
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("this test needs libfaketime's 'faketime' command (Debian: apt-get install faketime; .ci/run installs it)", ex);
        }
        using (p)
        {
            var o = p.StandardOutput.ReadToEndAsync();
            var e = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(180_000))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"blueback {string.Join(' ', args)} did not exit");
            }
            return (p.ExitCode, o.Result, e.Result);
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task A_backup_program_three_hours_ahead_records_the_servers_times_and_restore_stop_at_picks_the_right_set()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var clockCheck = CliSkewed("+3h", "repo", "init", dir["clock-check"]);
        Assert.Equal(0, clockCheck.Exit);
        Assert.Contains("\"created\": \"" + DateTime.UtcNow.AddHours(3).ToString("yyyy-MM-ddTHH", CultureInfo.InvariantCulture), await File.ReadAllTextAsync(Path.Combine(dir["clock-check"], "config.json")), StringComparison.Ordinal);

        await c.PutAsync("store", "mailbox", "t", "before"u8.ToArray(), "1"u8.ToArray());
        var t0 = DateTime.UtcNow;
        var a = CliSkewed("+3h", "backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json");
        Assert.True(a.Exit == 0, a.Err);
        var t1 = DateTime.UtcNow;
        var setA = JsonDocument.Parse(a.Out).RootElement.GetProperty("set").GetString()!;
        var manifest = await ReadManifestAsync(repo, setA);
        foreach (var name in new[] { "started", "logsCover", "ended" })
        {
            var t = manifest.GetProperty(name).GetDateTime();
            Assert.True(t >= t0.AddSeconds(-1) && t <= t1.AddSeconds(1), $"the set's {name} {t:O} is not the server's time (between {t0:O} and {t1:O})");
        }

        // A commit after set A, then set B: a stop at that commit needs A and the logs after it, never B.
        await Task.Delay(200);
        var middle = await c.BatchAsync("store", new BatchRequest { Ops = [new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = "middle", Value = "2" }] });
        await Task.Delay(200);
        await c.PutAsync("store", "mailbox", "t", "after"u8.ToArray(), "3"u8.ToArray());
        var b = CliSkewed("+3h", "backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json");
        Assert.True(b.Exit == 0, b.Err);

        var restore = BackupProgramTests.Cli("restore", "--repo", repo, "--stop-at", middle.Time.ToString("O", CultureInfo.InvariantCulture), "--to", dir["pit"], "--json");
        Assert.True(restore.Exit == 0, restore.Out + restore.Err);
        var sets = JsonDocument.Parse(restore.Out).RootElement.GetProperty("sets").EnumerateArray().Select(s => s.GetString()).ToList();
        Assert.Equal(setA, sets[0]);
        using var inst = StorageInstance.Open(Path.Combine(dir["pit"], "store"), new InstanceOptions());
        using var read = inst.BeginRead();
        var keys = read.Scan(inst.GetDatabase("mailbox"), "t").Select(kv => System.Text.Encoding.UTF8.GetString(kv.Key)).ToList();
        Assert.Equal(["before", "middle"], keys);
    }

    [Fact(Timeout = 300_000)]
    public async Task An_incremental_whose_logs_do_not_join_its_parent_is_refused_before_commit_and_truncation()
    {
        using var dir = new TempDir();
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "logGenerationSize": 262144, "databases": [ { "name": "mailbox" } ] } ] }""");
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        var (one, two) = (dir["one"], dir["two"]);
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", one).Exit);
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", two).Exit);

        async Task WriteAsync(int n)
        {
            for (int i = 0; i < n; i++)
            {
                await c.PutAsync("store", "mailbox", "t", System.Text.Encoding.UTF8.GetBytes($"k{i}"), new byte[4000]);
            }
        }

        await WriteAsync(100);
        var fullOne = BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", one, "--type", "full", "--json");
        Assert.True(fullOne.Exit == 0, fullOne.Err);
        var parent = JsonDocument.Parse(fullOne.Out).RootElement;
        await WriteAsync(100);
        // A full backup into another repository: the server truncates the logs it holds, which repository one lacks.
        Assert.Equal(0, BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", two, "--type", "full").Exit);
        await WriteAsync(100);
        var oldest = (await c.StatusAsync()).Instances.Single(i => i.Name == "store").OldestGeneration;

        var inc = BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", one, "--type", "incremental");
        Assert.True(inc.Exit == 2, $"exit {inc.Exit}\n{inc.Out}\n{inc.Err}");
        Assert.Contains(parent.GetProperty("set").GetString()!, inc.Err, StringComparison.Ordinal);
        Assert.Contains($"ends at {parent.GetProperty("genHigh").GetUInt32()}", inc.Err, StringComparison.Ordinal);
        Assert.Contains("gap in the chain", inc.Err, StringComparison.Ordinal);
        Assert.Contains("no log was truncated", inc.Err, StringComparison.Ordinal);
        Assert.Single(JsonDocument.Parse(BackupProgramTests.Cli("list", "--repo", one, "--json").Out).RootElement.EnumerateArray());
        Assert.Equal(oldest, (await c.StatusAsync()).Instances.Single(i => i.Name == "store").OldestGeneration);
        await BackupApiTests.WaitForNoBackupAsync(c, TimeSpan.FromSeconds(10));

        // The repository that holds the chain takes the incremental.
        var good = BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", two, "--type", "incremental");
        Assert.True(good.Exit == 0, good.Err);
    }

    private static async Task<JsonElement> ReadManifestAsync(string repo, string set)
    {
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(repo, "sets", set, "manifest.json")));
        return doc.RootElement.GetProperty("manifest").Clone();
    }
}
