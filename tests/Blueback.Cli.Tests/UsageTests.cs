using System.CommandLine;
using System.Diagnostics;

namespace Blueback.Cli.Tests;

/// <summary>Exit codes that mean one thing (issue 34): every command given a bad option exits 64, with the error line
/// last and a one-line hint, never the whole help or a stack trace (a usage error once exited 1, the code for damage
/// found).</summary>
public class UsageTests
{
    private static (int Exit, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "blueback.dll"), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"blueback {string.Join(' ', args)} did not exit within 60 s");
        }
        return (p.ExitCode, stderr.GetAwaiter().GetResult());
    }

    private static IEnumerable<string[]> Commands(Command command, string[] path)
    {
        yield return path;
        foreach (var sub in command.Subcommands)
        {
            foreach (var p in Commands(sub, [.. path, sub.Name]))
            {
                yield return p;
            }
        }
    }

    [Fact(Timeout = 600_000)]
    public async Task Every_command_given_a_bad_option_exits_64_with_the_error_last_and_a_one_line_hint()
    {
        var all = Commands(CommandTree.Build(), []).ToList();
        Assert.True(all.Count > 30, $"only {all.Count} commands found");
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(all, new ParallelOptions { MaxDegreeOfParallelism = 3 }, (path, _) =>
        {
            var (exit, err) = Run([.. path, "--no-such-option"]);
            var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var name = string.Join(' ', path.Prepend("blueback"));
            if (exit != 64 || lines.Length == 0 || lines.Length > 6 || !lines[^1].StartsWith(name + ":", StringComparison.Ordinal)
                || !lines[^1].Contains($"'{name} --help'", StringComparison.Ordinal) || err.Contains("   at ", StringComparison.Ordinal))
            {
                failures.Add($"{name} --no-such-option: exit {exit}, stderr:\n{err}");
            }
            return ValueTask.CompletedTask;
        });
        Assert.True(failures.IsEmpty, string.Join("\n\n", failures));
    }

    [Fact] // bounded: each run is killed after 60 s
    public void A_mistyped_option_is_named_with_the_one_meant_and_a_rule_missing_is_a_usage_error()
    {
        var (exit, err) = Run("verify", "--rep", "repo");
        Assert.Equal(64, exit);
        Assert.Contains("did you mean '--repo'?", err, StringComparison.Ordinal);
        (exit, err) = Run("forget", "--repo", Path.GetTempPath());
        Assert.Equal(64, exit);
        Assert.Contains("say what to keep", err, StringComparison.Ordinal);
    }
}
