using System.CommandLine;
using Blueback.Backup;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback repo init|gc</c>, <c>blueback list</c>, <c>blueback verify</c>.</summary>
internal static class RepositoryCommands
{
    public static Command Repo()
    {
        var repo = new Command("repo", "Create and maintain backup repositories.");
        var initOpts = new RepoOptions();
        var where = new Argument<string>("LOCATION") { Description = "A directory, or s3://BUCKET/PREFIX in an existing bucket." };
        var init = new Command("init", "Create a repository.") { where };
        initOpts.AddTo(init, withRepo: false);
        init.SetAction(async (pr, ct) => await GuardAsync(async () =>
        {
            var r = await BackupRepository.InitAsync(initOpts.Store(pr, pr.GetValue(where)!), ct).ConfigureAwait(false);
            Console.WriteLine($"Created repository {r.Id} in {r.Store.Location}.");
            return Output.Ok;
        }).ConfigureAwait(false));
        repo.Subcommands.Add(init);
        var gcOpts = new RepoOptions();
        var grace = new Option<string>("--grace") { Description = "Leave sets without a manifest alone until nothing in them changed for this long (a backup may still be writing them): 1h by default; 30m, 2h, 1d...", DefaultValueFactory = _ => "1h" };
        var gc = new Command("gc", "Remove what unfinished or forgotten backups left behind (sets without a committed manifest), and unfinished uploads.") { grace };
        gcOpts.AddTo(gc);
        gc.SetAction(async (pr, ct) => await GuardAsync(async () =>
        {
            var r = await gcOpts.OpenAsync(pr, ct).ConfigureAwait(false);
            var graceTime = Durations.Parse(pr.GetValue(grace)!, "--grace");
            var report = await RepositoryMaintenance.CollectGarbageAsync(r, graceTime, ct).ConfigureAwait(false);
            Console.WriteLine(report.Removed.Count == 0 ? "No set to remove." : $"Removed {report.Removed.Count} set(s) without a manifest ({report.RemovedBytes / 1048576.0:0.0} MiB): {string.Join(", ", report.Removed)}.");
            foreach (var line in report.StoreLeftovers)
            {
                Console.WriteLine($"Removed {line}.");
            }
            if (report.Young.Count > 0)
            {
                Console.WriteLine($"Left {report.Young.Count} set(s) without a manifest that changed within the grace period (a backup may still be writing them): {string.Join(", ", report.Young)}.");
            }
            return Output.Ok;
        }).ConfigureAwait(false));
        repo.Subcommands.Add(gc);
        return repo;
    }

    public static Command List()
    {
        var repoOpts = new RepoOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var cmd = new Command("list", "List the committed backup sets of a repository.") { json };
        repoOpts.AddTo(cmd);
        cmd.SetAction(async (pr, ct) => await GuardAsync(async () =>
        {
            var r = await repoOpts.OpenAsync(pr, ct).ConfigureAwait(false);
            var sets = await r.ListSetsAsync(ct).ConfigureAwait(false);
            var verified = new Dictionary<string, VerifyRecord?>();
            foreach (var s in sets)
            {
                verified[s.SetId] = await r.LastVerifiedAsync(s.SetId, ct).ConfigureAwait(false);
            }
            if (pr.GetValue(json))
            {
                Output.WriteJson(sets.Select(s => new
                {
                    verified = verified[s.SetId] is { } v ? new { time = v.Time, ok = v.Ok, problems = v.Problems } : null,
                    id = s.SetId,
                    instance = s.Instance,
                    type = s.Type,
                    started = s.Started,
                    ended = s.Ended,
                    genLow = s.GenLow,
                    genHigh = s.GenHigh,
                    parent = s.ParentSetId,
                    size = s.Files.Sum(f => f.Size),
                    stored = s.Files.Sum(f => f.Chunks.Sum(c => (long)c.StoredSize)),
                }));
                return Output.Ok;
            }
            Console.WriteLine($"{"set",-32}  {"instance",-10} {"type",-12} {"ended (UTC)",-19}  {"generations",-13} {"size",10}  {"verified",-22}  parent");
            foreach (var s in sets)
            {
                var v = verified[s.SetId] is { } rec ? $"{(rec.Ok ? "ok" : "FAILED")} {rec.Time:yyyy-MM-dd HH:mm}" : "never";
                Console.WriteLine($"{s.SetId,-32}  {s.Instance,-10} {s.Type,-12} {s.Ended:yyyy-MM-dd HH:mm:ss}  {$"{s.GenLow}-{s.GenHigh}",-13} {s.Files.Sum(f => f.Size) / 1048576.0,8:0.0}Mi  {v,-22}  {s.ParentSetId ?? "-"}");
            }
            return Output.Ok;
        }).ConfigureAwait(false));
        return cmd;
    }

    public static Command Verify()
    {
        var repoOpts = new RepoOptions();
        var set = new Option<string?>("--set") { Description = "The set to verify (default: all)." };
        var all = new Option<bool>("--all") { Description = "Verify every set (the default)." };
        var cmd = new Command("verify", "Re-read sets: manifest checksum, chunk checksums, file hashes, every page's checksum, the chain to the full set.") { set, all };
        repoOpts.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            return await GuardAsync(async () =>
            {
                var r = await repoOpts.OpenAsync(pr, signals.Token).ConfigureAwait(false);
                var sets = await r.ListSetsAsync(signals.Token).ConfigureAwait(false);
                var chosen = pr.GetValue(set) is { } id ? [await r.ReadManifestAsync(id, signals.Token).ConfigureAwait(false)] : sets;
                int bad = 0;
                foreach (var m in chosen)
                {
                    var problems = await SetVerification.VerifyAndRecordAsync(r, m, sets, signals.Token).ConfigureAwait(false);
                    Console.WriteLine(problems.Count == 0 ? $"set {m.SetId} ({m.Instance}, {m.Type}): OK, {m.Files.Count} files verified" : $"set {m.SetId} ({m.Instance}, {m.Type}): {problems.Count} problem(s)");
                    foreach (var p in problems)
                    {
                        Console.WriteLine($"  {p}");
                    }
                    bad += problems.Count;
                }
                return bad == 0 ? Output.Ok : Output.ProblemFound;
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    /// <summary>Runs a command's body, turning its failures into a message and an exit code. Once
    /// <paramref name="stopped"/> has fired (Ctrl+C, SIGTERM), whatever the body throws is the stop's doing (a torn
    /// connection, an aborted write) and exits 130 as a cancel, never 2 as a failure.</summary>
    public static async Task<int> GuardAsync(Func<Task<int>> body, CancellationToken stopped = default)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException || (stopped.IsCancellationRequested && ex is not OutOfMemoryException))
        {
            Console.Error.WriteLine("blueback: cancelled.");
            return Output.Cancelled;
        }
        catch (RepositoryException ex)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Output.Failed;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Output.Failed;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Output.Failed;
        }
    }
}
