using System.CommandLine;
using Blueback.Repository;
using Blueback.Repository.Stores;
using Blueback.Storage.Diagnostics;

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
            GcReport report;
            var held = await RepositoryLock.AcquireAsync(r, "gc", RepositoryLock.DefaultLease, ct).ConfigureAwait(false);
            await using (held.ConfigureAwait(false))
            {
                report = await r.CollectGarbageAsync(graceTime, ct).ConfigureAwait(false);
            }
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
                    var problems = await VerifySetAsync(r, m, sets, signals.Token).ConfigureAwait(false);
                    await r.RecordVerifiedAsync(m.SetId, problems.Count == 0, problems.Count, signals.Token).ConfigureAwait(false);
                    Console.WriteLine(problems.Count == 0 ? $"set {m.SetId} ({m.Instance}, {m.Type}): OK, {m.Files.Count} files verified" : $"set {m.SetId} ({m.Instance}, {m.Type}): {problems.Count} problem(s)");
                    foreach (var p in problems)
                    {
                        Console.WriteLine($"  {p}");
                    }
                    bad += problems.Count;
                }
                return bad == 0 ? Output.Ok : Output.ProblemFound;
            }).ConfigureAwait(false);
        });
        return cmd;
    }

    /// <summary>Everything verify checks for one set.</summary>
    public static async Task<List<string>> VerifySetAsync(BackupRepository r, Manifest m, List<Manifest> sets, CancellationToken ct)
    {
        var logs = new LogCopies(m);
        var problems = await SetVerifier.VerifyAsync(r, m, (file, raw, offset, found) =>
        {
            logs.Add(file, raw, offset, found);
            return InspectAsync(file, raw, offset, found);
        }, ct).ConfigureAwait(false);
        problems.AddRange(Chain(m, sets));
        return problems;
    }

    /// <summary>Each log generation in a set, reassembled one at a time (a generation's size at most): checked whole
    /// (header, records, end record), its signature against the set's, and chained to the one before it.</summary>
    private sealed class LogCopies(Manifest manifest)
    {
        private MemoryStream? _current;
        private long _previousCreated;
        private uint _previousGeneration;

        public void Add(ManifestFile file, ReadOnlyMemory<byte> raw, long offset, List<string> problems)
        {
            if (!file.Path.StartsWith("logs/", StringComparison.Ordinal))
            {
                return;
            }
            if (offset == 0)
            {
                _current = new MemoryStream((int)Math.Min(file.Size, int.MaxValue));
            }
            _current!.Write(raw.Span);
            if (offset + raw.Length < file.Size)
            {
                return;
            }
            var name = Path.GetFileName(file.Path);
            if (!Storage.Log.LogFiles.TryParseGeneration(name, out uint generation))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: not a log generation's name");
                return;
            }
            var check = LogCheck.VerifyCopy(_current.ToArray(), $"{manifest.SetId}/{file.Path}", generation);
            _current = null;
            if (check.Problem is not null)
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: {check.Problem}");
                return;
            }
            if (!string.Equals(check.LogSignatureId, manifest.LogSignature, StringComparison.Ordinal))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: belongs to log stream {check.LogSignatureId}, not the set's {manifest.LogSignature}");
            }
            if (_previousGeneration != 0 && (generation != _previousGeneration + 1 || check.PreviousCreatedTicks != _previousCreated))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: does not follow generation {_previousGeneration} (not contiguous)");
            }
            _previousGeneration = generation;
            _previousCreated = check.CreatedTicks;
        }
    }

    /// <summary>Every page inside a database image verifies at its position (chunks hold whole pages).</summary>
    private static Task InspectAsync(ManifestFile file, ReadOnlyMemory<byte> raw, long offset, List<string> problems)
    {
        if (!file.Path.StartsWith("databases/", StringComparison.Ordinal))
        {
            return Task.CompletedTask;
        }
        var span = raw.Span;
        int pageSize = offset == 0 ? PageVerification.ImagePageSize(span) : PageSizes.GetValueOrDefault(file.Path);
        if (offset == 0)
        {
            PageSizes[file.Path] = pageSize;
        }
        if (pageSize == 0)
        {
            problems.Add($"file {file.Path}: not a database image (no header page)");
            return Task.CompletedTask;
        }
        for (int at = 0; at + pageSize <= span.Length; at += pageSize)
        {
            uint page = (uint)((offset + at) / pageSize);
            if (PageVerification.Problem(span.Slice(at, pageSize), page) is { } what)
            {
                problems.Add($"file {file.Path}: page {page} {what}");
            }
        }
        return Task.CompletedTask;
    }

    private static readonly Dictionary<string, int> PageSizes = new(StringComparer.Ordinal);

    /// <summary>An incremental or differential set must join its parent with no gap in generations.</summary>
    private static IEnumerable<string> Chain(Manifest m, List<Manifest> sets)
    {
        if (m.Type is "full" or "copy")
        {
            yield break;
        }
        var parent = sets.FirstOrDefault(s => s.SetId == m.ParentSetId);
        if (parent is null)
        {
            yield return $"set {m.SetId}: its parent set {m.ParentSetId ?? "(none)"} is not in the repository: the chain back to a full set is broken";
            yield break;
        }
        // An overlap is harmless (a backup killed after its commit but before truncation leaves the next one
        // starting earlier); a gap is not.
        if (m.GenLow > parent.GenHigh + 1)
        {
            yield return $"set {m.SetId}: starts at generation {m.GenLow} but its parent {parent.SetId} ends at {parent.GenHigh}: generations {parent.GenHigh + 1} to {m.GenLow - 1} are in no set (a gap in the chain)";
        }
    }

    public static async Task<int> GuardAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
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
