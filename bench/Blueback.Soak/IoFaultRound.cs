using System.Diagnostics;
using Blueback.Client;

namespace Blueback.Soak;

internal sealed partial class Rounds
{
    /// <summary>An injected I/O fault (the server's failure drills, docs/server.md): the server is stopped, its data
    /// checked, and started again with one of the instance's log writes, log flushes, page writes or backup page
    /// reads failing after a random count, or a slow disk (delayed flushes and reads). A copy backup runs meanwhile (a
    /// full for page writes: its begin checkpoints): it ends 0 (its set is verified with the others) or 2 with a
    /// reason and no set listed. The writers run into the fault; the server must stay up and answer. Then it is
    /// stopped again, every acknowledged commit checked offline, and it starts without the drill.</summary>
    public void IoFault()
    {
        var (drill, expectStop, backupType) = rng.Next(5) switch
        {
            0 => ($$"""{ "operation": "logWrite", "after": {{rng.Next(50, 600)}} }""", true, "copy"),
            1 => ($$"""{ "operation": "logFlush", "after": {{rng.Next(50, 600)}} }""", true, "copy"),
            // Pages are written by checkpoints (every 30 s at these rates): the backup is a full, whose begin
            // checkpoints, and the wait covers the next one (seed 74: 20 of 20 "not reached" in 5 s beside a copy).
            2 => ($$"""{ "operation": "databaseWrite", "after": {{rng.Next(0, 50)}} }""", true, "full"),
            3 => ($$"""{ "operation": "databaseRead", "after": {{rng.Next(0, 20)}} }""", false, "copy"), // a backup reads in long runs: few calls
            _ => ($$"""{ "operation": "logFlush", "after": {{rng.Next(0, 200)}}, "count": 30, "delayMs": 300 }, { "operation": "databaseRead", "count": 300, "delayMs": 20 }""", false, "copy"),
        };
        var config = Path.Combine(root, "drill.json");
        File.WriteAllText(config, $$"""
            { "allowFaultDrills": true, "instances": [
                { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ], "faultDrills": [ {{drill}} ] },
                { "name": "directory", "databases": [ { "name": "directory" } ] } ] }
            """);
        StopAndCheck(kill: false, " before a failure drill");
        server.Start(config);
        tally.IoFaultRounds++;
        bool reached = false;

        var before = Sets();
        var o = Programs.Run("none", 0, CommandBound, "backup", "--server", server.Url, "--repo", repo, "--type", backupType);
        tally.Commands++;
        if (o.Hung)
        {
            tally.Hangs++;
            tally.Violation($"a backup during the failure drill {drill} did not exit within its bound: {Tail(o)}");
        }
        else if (o.Exit == 2)
        {
            tally.Refusal("backup during a failure drill", o.Output.Trim());
            reached = true;
            // A failure after the commit leaves its set, and must say so by its id; any other failure, none.
            foreach (var id in Sets().Except(before).Where(id => !o.Output.Contains($"Set {id} was committed", StringComparison.Ordinal)))
            {
                tally.Violation($"a backup that failed during the failure drill {drill} left set {id} listed without saying so: {Tail(o)}");
            }
        }
        else if (o.Exit != 0)
        {
            tally.Violation($"a backup during the failure drill {drill}: exit {o.Exit} (expected 0, or 2 with a reason): {Tail(o)}");
        }

        // The writers meet the fault (the log's drills come within a few seconds at the soak's write rates); the
        // server answers throughout and says an instance it stopped is stopped.
        using var client = new BluebackClient(server.Url, timeout: TimeSpan.FromSeconds(10));
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(expectStop ? 35 : 5))
        {
            try
            {
                var state = client.StatusAsync().GetAwaiter().GetResult().Instances.Single(i => i.Name == "store").State;
                // Stopped by the fault while serving, or (a page write failing in its open) left offline at start.
                if (state is "stopped-after-error" or "offline")
                {
                    reached = true;
                    break;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or BluebackApiException or TaskCanceledException)
            {
                tally.Violation($"during the failure drill {drill} the server did not answer its status: {ex.Message}");
                break;
            }
            Thread.Sleep(250);
        }
        if (reached)
        {
            tally.IoFaultsReached++;
        }
        Console.WriteLine($"  io-fault {drill}: {(reached ? "reached" : drill.Contains("delayMs", StringComparison.Ordinal) ? "a slow disk" : "not reached")} in {sw.Elapsed.TotalSeconds:0.0} s, the backup meanwhile exit {o.Exit}");
        if (!server.CheckAlive())
        {
            tally.Violation($"the server exited on its own during the failure drill {drill}");
        }
        StopAndCheck(kill: false, $" after the failure drill {drill}");
        server.Start();
    }
}
