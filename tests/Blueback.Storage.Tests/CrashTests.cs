using System.Diagnostics;
using System.Text;
using Blueback.Storage.Diagnostics;

namespace Blueback.Storage.Tests;

/// <summary>Real processes killed with SIGKILL while committing: every acknowledged commit survives, no
/// transaction is half there, and every page verifies.</summary>
public class CrashTests
{
    private static readonly InstanceOptions Options = new() { LogGenerationSize = 256 << 10, CacheSize = 8L << 20, CheckpointLogBytes = 2 << 20 };

    [Fact]
    [Trait(Tier.Category, Tier.Slow)]
    public void Acknowledged_commits_survive_twenty_kills() => KillLoop(kills: 20, seed: 7);

    [Fact]
    [Trait(Tier.Category, Tier.Stress)]
    public void Acknowledged_commits_survive_a_hundred_kills() => KillLoop(kills: 100, seed: 99);

    private static void KillLoop(int kills, int seed)
    {
        using var dir = new TempDir("crash");
        var rng = new Random(seed);
        var acked = new HashSet<int>();
        for (int run = 1; run <= kills; run++)
        {
            var runAcks = RunAndKill(dir.Path, run, rng.Next(), TimeSpan.FromMilliseconds(rng.Next(50, 900)));
            acked.UnionWith(runAcks);
            Verify(dir.Path, acked, run);
        }
        Assert.True(acked.Count > kills, $"the worker acknowledged only {acked.Count} commits over {kills} runs");
    }

    private static List<int> RunAndKill(string dir, int run, int seed, TimeSpan after)
    {
        var worker = Path.Combine(AppContext.BaseDirectory, "Blueback.CrashWorker.dll");
        var psi = new ProcessStartInfo("dotnet", [worker, dir, run.ToString(System.Globalization.CultureInfo.InvariantCulture), seed.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var acks = new List<int>();
        var lines = new List<string>();
        var ready = new ManualResetEventSlim();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (acks)
            {
                if (e.Data == "READY")
                {
                    ready.Set();
                }
                else if (e.Data.StartsWith("ACK ", StringComparison.Ordinal))
                {
                    acks.Add(int.Parse(e.Data.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            if (!ready.Wait(TimeSpan.FromSeconds(60)))
            {
                Assert.Fail($"run {run}: the worker did not become ready (exited: {p.HasExited}). stderr: {stderr}");
            }
            Thread.Sleep(after);
            Assert.False(p.HasExited, $"run {run}: the worker exited on its own. stderr: {stderr}");
        }
        finally
        {
            p.Kill(entireProcessTree: true);
            Assert.True(p.WaitForExit(30_000), "the killed worker did not go away");
        }
        p.WaitForExit(); // drains the output readers: every line the worker printed before the kill is in 'acks'
        lock (acks)
        {
            return acks.ToList();
        }
    }

    private static void Verify(string dir, HashSet<int> acked, int run)
    {
        using (var inst = StorageInstance.Open(dir, Options))
        {
            var a = inst.GetDatabase("a");
            var b = inst.GetDatabase("b");
            using var r = inst.BeginRead();
            var inA = r.Scan(a, "markers").Select(kv => Encoding.UTF8.GetString(kv.Key)).ToHashSet();
            var inB = r.Scan(b, "markers").Select(kv => Encoding.UTF8.GetString(kv.Key)).ToHashSet();
            Assert.True(inA.SetEquals(inB), $"after kill {run}: a transaction is only partly present (markers differ between databases: {string.Join(",", inA.Except(inB).Concat(inB.Except(inA)).Take(5))})");
            long total = 0;
            for (int i = 0; i < 10; i++)
            {
                total += BitConverter.ToInt64(r.Get(a, "bank", Encoding.UTF8.GetBytes($"acct-{i}"))!);
            }
            Assert.True(total == 10_000, $"after kill {run}: account total is {total}, not 10000: a transfer was half applied");
            var missing = acked.Select(id => $"t{id:D9}").Where(m => !inA.Contains(m)).Take(5).ToList();
            Assert.True(missing.Count == 0, $"after kill {run}: acknowledged commits lost: {string.Join(", ", missing)}");
            var scratchA = r.Scan(a, "scratch").Select(kv => Encoding.UTF8.GetString(kv.Key)).ToHashSet();
            var scratchB = r.Scan(b, "scratch").Select(kv => Encoding.UTF8.GetString(kv.Key)).ToHashSet();
            Assert.True(scratchA.SetEquals(scratchB), $"after kill {run}: scratch rows differ between databases: a transaction was half applied");
        }
        foreach (var f in new[] { "a.bdb", "b.bdb" })
        {
            var c = DatabaseCheck.Checksum(Path.Combine(dir, f));
            Assert.True(c.Ok, $"after kill {run}: {f} has bad pages: {string.Join("; ", c.Bad.Select(x => x.Detail))}");
        }
    }
}
