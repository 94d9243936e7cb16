using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.Bench;

/// <summary>What a proof costs the writers (issue target: they keep at least 95% of their rate), and what it costs in time
/// against a plain restore of the same set: a full backup with --digest, then 16 durable 1 KiB writers over HTTP measured
/// without a proof and during `blueback prove` (the real program, at its default nice 19), alternating, best of two
/// rounds each; then the same with proofs run by the server (a policy's, throttled to a slice of each second while its
/// clients are busy); first, one proof and one `restore --to` of the set, timed.</summary>
internal static class ProofBench
{
    public static void Run(string root, string url, long bytes)
    {
        var ci = CultureInfo.InvariantCulture;
        var repo = Path.Combine(root, "proof-repo");
        Shell.Blueback(["repo", "init", repo]);
        Shell.Blueback(["backup", "--server", url, "--repo", repo, "--digest", "--json"]);
        var scratch = Path.Combine(root, "proof-scratch");

        var proof = Stopwatch.StartNew();
        var record = JsonDocument.Parse(Shell.Blueback(["prove", "--repo", repo, "--scratch", scratch, "--json"])).RootElement.GetProperty("proof");
        double proofSeconds = proof.Elapsed.TotalSeconds;
        var restore = Stopwatch.StartNew();
        Shell.Blueback(["restore", "--repo", repo, "--to", Path.Combine(root, "proof-restore")]);
        double restoreSeconds = restore.Elapsed.TotalSeconds;
        Directory.Delete(Path.Combine(root, "proof-restore"), recursive: true);
        Console.WriteLine(string.Create(ci, $"proof of a {bytes >> 20} MiB full set: {proofSeconds:0.0} s (restore, recovery, {record.GetProperty("pagesChecked").GetInt64():N0} pages checked, {record.GetProperty("rows").GetInt64():N0} rows digested, digest match {record.GetProperty("digestMatch")}) against `restore --to` of the same set {restoreSeconds:0.0} s: {proofSeconds / restoreSeconds:0.00}x"));

        // By hand: `blueback prove` at its default (nice 19, idle scheduling class), looping while the writers run.
        double without = 0, with = 0;
        int proofs = 0;
        for (int round = 0; round < 2; round++)
        {
            without = Math.Max(without, WriterLoad.PutsPerSecond(url, 10, null));
            with = Math.Max(with, WriterLoad.PutsPerSecond(url, 10, async ct =>
            {
                while (!ct.IsCancellationRequested)
                {
                    await Shell.BluebackAsync(ct, "prove", "--repo", repo, "--scratch", scratch, "--json");
                    proofs++;
                }
            }, TimeSpan.FromSeconds(1.5)));
        }
        Console.WriteLine(string.Create(ci, $"writers (16, durable 1 KiB puts over HTTP): {without:N0}/s without a proof, {with:N0}/s while `blueback prove` ran by hand ({proofs} proofs, nice 19, idle class), kept {with / without:0.00} (target 0.95)"));

        // Run by the server: a policy's proofs, which the server lets run a slice of each second while its clients are busy.
        using var client = new BluebackClient(url);
        var calls = new PolicyCalls(client);
        calls.PutAsync(new PolicyDefinition { Name = "bench", Instance = "store", Repository = new PolicyRepository { Location = repo }, Full = "3650d", Prove = new PolicyProof { AfterEach = false, Scratch = scratch } }, CancellationToken.None).GetAwaiter().GetResult();
        string set;
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var p = calls.GetAsync("bench", CancellationToken.None).GetAwaiter().GetResult();
            if (p.Last.GetValueOrDefault("full") is { State: not PolicyJobState.Running } full)
            {
                set = full.Set ?? throw new InvalidOperationException($"the policy's first full backup failed: {full.Error}");
                break;
            }
            if (waited.Elapsed > TimeSpan.FromMinutes(10))
            {
                throw new TimeoutException("the policy's first full backup did not end within 10 minutes");
            }
            Thread.Sleep(200);
        }
        double serverWithout = 0, serverWith = 0;
        int serverProofs = 0, incomplete = 0;
        var proofTimes = new List<double>();
        for (int round = 0; round < 2; round++)
        {
            serverWithout = Math.Max(serverWithout, WriterLoad.PutsPerSecond(url, 20, null));
            serverWith = Math.Max(serverWith, WriterLoad.PutsPerSecond(url, 20, async ct =>
            {
                while (!ct.IsCancellationRequested)
                {
                    var job = await calls.RunAsync("bench", "prove", set, CancellationToken.None);
                    while (job.State == PolicyJobState.Running && !ct.IsCancellationRequested)
                    {
                        await Task.Delay(200, CancellationToken.None);
                        job = await calls.JobAsync("bench", job.Id, CancellationToken.None);
                    }
                    if (job.State == PolicyJobState.Running)
                    {
                        incomplete++;
                        await calls.CancelAsync("bench", job.Id, CancellationToken.None);
                        WaitJob(calls, job.Id);
                        return;
                    }
                    serverProofs++;
                    proofTimes.Add(job.Seconds ?? 0);
                }
            }, TimeSpan.FromSeconds(1.5)));
        }
        Console.WriteLine(string.Create(ci, $"writers: {serverWithout:N0}/s without a proof, {serverWith:N0}/s while the server ran a policy's proofs ({serverProofs} finished in {string.Join(", ", proofTimes.Select(t => t.ToString("0.0", ci)))} s, {incomplete} stopped at the window's end; a slice of {ChildSlice} per second while clients are busy), kept {serverWith / serverWithout:0.00} (target 0.95)"));
        calls.DeleteAsync("bench", CancellationToken.None).GetAwaiter().GetResult();
    }

    private const string ChildSlice = "30 ms";

    /// <summary>What a digest adds to a backup (policies always ask for one): full backups of the loaded instance with
    /// and without --digest, alternating, three rounds after a warm-up; the better time of each.</summary>
    public static void DigestCost(string root, string url, long bytes)
    {
        var ci = CultureInfo.InvariantCulture;
        double with = double.MaxValue, without = double.MaxValue;
        for (int round = 0; round < 4; round++)
        {
            foreach (var digest in new[] { false, true })
            {
                var repo = Path.Combine(root, $"digest-repo-{round}-{digest}");
                Shell.Blueback(["repo", "init", repo]);
                var sw = Stopwatch.StartNew();
                Shell.Blueback(["backup", "--server", url, "--repo", repo, "--type", "copy", .. (digest ? new[] { "--digest" } : [])]);
                double t = sw.Elapsed.TotalSeconds;
                Directory.Delete(repo, recursive: true);
                if (round > 0)
                {
                    (with, without) = digest ? (Math.Min(with, t), without) : (with, Math.Min(without, t));
                }
            }
        }
        Console.WriteLine(string.Create(ci, $"copy backup of {bytes >> 20} MiB: {without:0.00} s without a digest, {with:0.00} s with one ({with / without:0.00}x)"));
    }

    private static void WaitJob(PolicyCalls calls, string id)
    {
        var sw = Stopwatch.StartNew();
        while (calls.JobAsync("bench", id, CancellationToken.None).GetAwaiter().GetResult().State == PolicyJobState.Running)
        {
            if (sw.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"policy job {id} did not end within a minute of its cancel");
            }
            Thread.Sleep(200);
        }
    }
}
