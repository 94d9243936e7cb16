using System.Diagnostics;
using System.Text.Json;
using Blueback.Storage;
using Blueback.Storage.Tests;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Cli.Tests;

/// <summary>The <c>blueback</c> executable as an operator runs it: exit codes, text and JSON.</summary>
public class CliTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "blueback.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"blueback {string.Join(' ', args)} did not exit within 120 s");
        }
        return (p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    private static string MakeDatabase(TempDir dir)
    {
        using var inst = StorageInstance.Create(dir["inst"], Options);
        var db = inst.CreateDatabase("mailbox");
        using var tx = inst.BeginWrite();
        for (int i = 0; i < 200; i++)
        {
            tx.Put(db, "t", B($"k{i:D4}"), new byte[500]);
        }
        tx.Commit();
        return db.Path;
    }

    [Fact]
    public void Checksum_of_a_good_database_exits_zero_with_json()
    {
        using var dir = new TempDir();
        var path = MakeDatabase(dir);
        var (exit, output, _) = Run("db", "checksum", path, "--json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(output);
        Assert.True(doc.RootElement.GetProperty("ok").GetBoolean());
        Assert.True(doc.RootElement.GetProperty("good").GetInt64() > 4);
    }

    [Fact]
    public void Checksum_names_each_bad_page_and_exits_one()
    {
        using var dir = new TempDir();
        var path = MakeDatabase(dir);
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            fs.Position = (4 * 8192) + 3000;
            fs.Write([1, 2, 3]);
        }
        var (exit, output, _) = Run("db", "checksum", path);
        Assert.Equal(1, exit);
        Assert.Contains("page 4: checksum mismatch", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_logs_and_checkpoint_print_json()
    {
        using var dir = new TempDir();
        var path = MakeDatabase(dir);
        var (exit, output, _) = Run("db", "header", path, "--json");
        Assert.Equal(0, exit);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.Equal("Clean", doc.RootElement.GetProperty("state").GetString());
        }
        (exit, output, _) = Run("db", "logs", dir["inst"], "--json");
        Assert.Equal(0, exit);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.True(doc.RootElement.GetProperty("ok").GetBoolean());
        }
        (exit, output, _) = Run("db", "checkpoint", dir["inst"], "--json");
        Assert.Equal(0, exit);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.Equal("mailbox.bdb", doc.RootElement.GetProperty("databases")[0].GetProperty("path").GetString());
        }
    }

    [Fact]
    public void Verify_checks_the_chain_against_a_head_recorded_elsewhere_and_exits_one_naming_what_is_missing()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Run("repo", "init", repo).Exit);
        var listed = Run("list", "--repo", repo);
        var head = listed.Out.Split('\n').Single(l => l.StartsWith("chain head: ", StringComparison.Ordinal))["chain head: ".Length..].Split(' ')[0];
        Assert.StartsWith("1:", head, StringComparison.Ordinal);
        var ok = Run("verify", "--repo", repo, "--expect-head", head);
        Assert.True(ok.Exit == 0, ok.Out + ok.Err);
        Assert.Contains($"chain: 1 entry, head {head}; it began at ", ok.Out, StringComparison.Ordinal);
        Assert.EndsWith(": OK", ok.Out.TrimEnd(), StringComparison.Ordinal);

        // A head from later than the chain holds: cut short.
        var later = Run("verify", "--repo", repo, "--expect-head", "2:" + head[2..]);
        Assert.Equal(1, later.Exit);
        Assert.Contains("it ends at entry 1, but its head was entry 2 when recorded", later.Out, StringComparison.Ordinal);

        // The whole chain removed: nothing in the repository says so, the recorded head does.
        Directory.Delete(Path.Combine(repo, "chain"), recursive: true);
        Assert.Equal(0, Run("verify", "--repo", repo).Exit);
        var gone = Run("verify", "--repo", repo, "--expect-head", head);
        Assert.Equal(1, gone.Exit);
        Assert.Contains("the repository has no chain, but its head was entry 1 when recorded: the whole chain was removed", gone.Out, StringComparison.Ordinal);

        var malformed = Run("verify", "--repo", repo, "--expect-head", "one");
        Assert.Equal(2, malformed.Exit);
        Assert.Contains("is not a chain head", malformed.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_a_clear_error_and_a_non_zero_exit()
    {
        using var dir = new TempDir();
        var (exit, _, err) = Run("db", "checksum", dir["nope.bdb"]);
        Assert.NotEqual(0, exit);
        Assert.Contains("nope.bdb", err, StringComparison.Ordinal);
    }

    [Fact]
    [Trait(Tier.Category, Tier.Slow)]
    public void The_demo_runs_end_to_end()
    {
        using var dir = new TempDir();
        var (exit, output, err) = Run("demo", "--data", dir["demo"], "--seconds", "1");
        Assert.True(exit == 0, $"demo exited {exit}: {output} {err}");
        Assert.Contains("everything verified", output, StringComparison.Ordinal);
    }
}
