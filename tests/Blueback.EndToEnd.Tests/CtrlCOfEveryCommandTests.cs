using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Blueback.EndToEnd.Tests;

/// <summary>^C reaches every command, not only the long ones that set up their own stop. The process takes SIGINT from
/// the runtime first thing (so that a ^C during start-up is a graceful stop), and the commands that did not hold a
/// <c>Signals</c> of their own (list, repo, db checksum, token) got a token nothing cancelled: they ran on through a ^C,
/// and one waiting on a server that never answers waited out its 30 s timeout (found reading the soak's list times:
/// every list "stopped" with exit 0). Both tests hang on the old code; a gc stopped past its bound then held the
/// repository's maintenance lock for its 10 min lease (refused the next gc on the old code).</summary>
[Trait(Tier.Category, Tier.Slow)]
public class CtrlCOfEveryCommandTests
{
    [Fact(Timeout = 120_000)]
    public async Task Ctrl_C_of_a_command_waiting_on_a_server_that_never_answers_exits_130_at_once()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = new CancellationTokenSource();
        var held = new List<TcpClient>();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    held.Add(await listener.AcceptTcpClientAsync(stop.Token)); // accepted, never answered
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        try
        {
            var url = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
            var run = await PtySignal.RunAsync("INT", 1.5, "dotnet", ServerProcess.Cli, "token", "list", "--server", url, "--token-file", TestToken.File);
            Assert.True(run.Outcome == "interrupted" && run.Exit == 130, $"token list: {run}");
            Assert.True(run.Ms < 2000, $"token list exited {run.Ms:0} ms after ^C");
            Assert.Contains("cancelled", run.Output, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            await accepting.WaitAsync(TimeSpan.FromSeconds(10));
            held.ForEach(c => c.Dispose());
        }
    }

    /// <summary>A read blocked in open(2) (a FIFO nobody writes: a hung network volume) is out of any token's reach: the
    /// read-only commands end within their bound anyway, as verify and prove do.</summary>
    [Fact(Timeout = 120_000)]
    public async Task Ctrl_C_of_list_gc_and_db_checksum_blocked_on_a_hung_volume_exits_130_within_the_bound()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        var set = Path.Combine(repo, "sets", "0123456789abcdef0123456789abcdef");
        Directory.CreateDirectory(set);
        Mkfifo(Path.Combine(set, "manifest.json"));
        var db = dir["hung.bdb"];
        Mkfifo(db);
        foreach (string[] args in (string[][])[["list", "--repo", repo], ["db", "checksum", db], ["repo", "gc", "--repo", repo]])
        {
            var run = await PtySignal.RunAsync("INT", 1.0, ["dotnet", ServerProcess.Cli, .. args]);
            Assert.True(run.Outcome == "interrupted" && run.Exit == 130, $"{args[0]}: {run} (hung: the ^C waited for the blocked read)");
            Assert.True(run.Ms < 6000, $"{args[0]} exited {run.Ms:0} ms after ^C (its bound is 3 s)");
        }

        // The gc stopped past its bound left its maintenance lock (10 min lease); its process is gone, so the next
        // maintainer takes the lock over at once instead of being refused until the lease ends.
        Assert.True(File.Exists(Path.Combine(repo, "locks", "maintenance.json")), "the stopped gc held the lock");
        File.Delete(Path.Combine(set, "manifest.json"));
        var next = BackupProgramTests.Cli("repo", "gc", "--repo", repo);
        Assert.True(next.Exit == 0, $"gc after a stopped gc: {next.Exit} {next.Out}{next.Err}");
    }

    private static void Mkfifo(string path)
    {
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        Assert.True(mkfifo.WaitForExit(10_000) && mkfifo.ExitCode == 0, "mkfifo failed");
    }
}
