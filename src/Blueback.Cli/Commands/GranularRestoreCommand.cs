using Blueback.Backup;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Storage.Restore;

namespace Blueback.Cli.Commands;

/// <summary>The granular options of <c>blueback restore</c>; <see cref="Any"/> once one is given.</summary>
internal sealed record GranularOptions(string? Database, string? Table, string? FromKey, string? ToKey, string? Into, string? Scratch)
{
    public bool Any => Database is not null || Table is not null || FromKey is not null || ToKey is not null || Into is not null;
}

/// <summary><c>blueback restore --database DB [--table T [--from-key K --to-key K]]</c>: the set's database is restored
/// alone into a scratch directory (the planner, checks and roll-forward of any restore), read in key order and written
/// into a running server in one transaction (in place with --replace, or --into a new table), or offline into a new
/// instance (--to DIR). The scratch directory goes afterwards, also after a failure or Ctrl+C.</summary>
internal static class GranularRestoreCommand
{
    public static async Task<int> RunAsync(RestoreCommand.Options o, BackupRepository repo, CancellationToken ct)
    {
        var g = o.Granular;
        Check(o);
        var scope = new GranularScope(g.Database!, g.Table, GranularScope.ParseKey(g.FromKey, "--from-key"), GranularScope.ParseKey(g.ToKey, "--to-key"));
        var stop = o.StopAt is null ? null : RecoveryStop.Parse(o.StopAt);
        // The scratch directory holds no logs but the chain's: the stop point must lie within what the repository holds.
        var chain = await RestorePlanner.PlanAsync(repo, o.Set, o.Instance, stop, liveLogsFollow: false, ct).ConfigureAwait(false);
        scope.CheckAgainst(chain);
        var options = new RestoreOptions(stop, PlayForward: true, o.UpToContiguous, scope.Database);
        var progress = new RestoreCommand.Progress(o.Json);
        var rows = new RowProgress(o.Json);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (o.Server is null && scope.Table is null)
        {
            // Offline, a whole database: the restore itself is the result, an instance holding that database alone.
            var r = await RestoreJob.ToDirectoryAsync(repo, chain, o.To!, o.As ?? chain[0].Instance, replace: false, options, progress, ct).ConfigureAwait(false);
            progress.Done();
            return Report(o, scope, chain, r, null, r.Directory, clock.Elapsed.TotalSeconds);
        }
        using var source = await ScratchCopy.RestoreAsync(repo, chain, scope, options, g.Scratch ?? Path.GetTempPath(), progress, ct).ConfigureAwait(false);
        progress.Done();
        GranularResult result;
        string where;
        if (o.Server is { } url)
        {
            var instance = o.Instance ?? chain[0].Instance;
            using var client = new BluebackClient(url, token: o.Token, trust: o.Trust);
            result = await GranularRestore.ToServerAsync(source, scope, client, instance, g.Into, rows, ct).ConfigureAwait(false);
            where = $"instance '{instance}' on {url}";
        }
        else
        {
            where = Path.GetFullPath(Path.Combine(o.To!, o.As ?? chain[0].Instance));
            result = GranularRestore.ToDirectory(source, scope, where, g.Into, rows, ct);
        }
        rows.Done();
        return Report(o, scope, chain, source.Restore, result, where, clock.Elapsed.TotalSeconds);
    }

    private static void Check(RestoreCommand.Options o)
    {
        var g = o.Granular;
        if (g.Database is null)
        {
            throw new GranularRestoreException("--table, --from-key, --to-key and --into restore part of a database: name it with --database.");
        }
        if ((g.FromKey is not null || g.ToKey is not null || g.Into is not null) && g.Table is null)
        {
            throw new GranularRestoreException("--from-key, --to-key and --into work on one table: name it with --table.");
        }
        if ((o.To is null) == (o.Server is null))
        {
            throw new GranularRestoreException("say where to restore: --server URL (into the live instance) or --to DIR (offline, a new instance holding just that database or table), not both.");
        }
        if (o.Delta)
        {
            throw new GranularRestoreException("--delta patches a whole instance's files; a granular restore copies rows. Leave out one or the other.");
        }
        if (o.Server is not null && o.Replace == (g.Into is not null))
        {
            throw new GranularRestoreException("online, say where the rows go: --replace (in place of the live table, range or database, in one transaction) or --into NEW_TABLE (beside it), one of them.");
        }
        if (o.Server is not null && o.As is not null)
        {
            throw new GranularRestoreException("--as names a new instance; a granular restore writes into the live instance (--instance, or the set's).");
        }
        if (o.To is not null && o.Replace)
        {
            throw new GranularRestoreException("offline (--to DIR), a granular restore writes a new instance; --replace is for --server.");
        }
    }

    private static int Report(RestoreCommand.Options o, GranularScope scope, List<Repository.Manifest> chain, RestoreResult restored, GranularResult? r, string where, double seconds)
    {
        var asOf = restored.Report.LastCommitTime;
        var mode = o.Server is null ? "offline" : o.Granular.Into is null ? "replace" : "into";
        if (o.Json)
        {
            Output.WriteJson(new
            {
                mode, where, database = scope.Database, table = scope.Table, into = o.Granular.Into, from = o.Granular.FromKey, to = o.Granular.ToKey,
                sets = chain.Select(s => s.SetId), stop = o.StopAt, asOf, tables = r?.Tables, rows = r?.Rows, bytes = r?.Bytes, deleted = r?.Deleted,
                commitLsn = r?.CommitLsn, commitTime = r?.CommitTime, restoredBytes = restored.Bytes, restoreSeconds = restored.Seconds, seconds,
            });
            return Output.Ok;
        }
        var what = scope.Describe();
        var from = $"{RestorePlanner.Describe(chain)}{(asOf is { } t ? $", as of the commit at {t:O}" : "")}";
        if (r is null)
        {
            Console.WriteLine($"Restored {what} from {from} into {where} (an instance holding that database alone): {restored.Bytes / 1048576.0:0.0} MiB in {seconds:0.0} s.");
        }
        else
        {
            var how = mode switch
            {
                "replace" => $"in place, in one transaction committed at {r.CommitLsn} ({r.Deleted} live keys replaced)",
                "into" => $"into the new table '{o.Granular.Into}', in one transaction committed at {r.CommitLsn}",
                _ => $"(a new instance holding {(o.Granular.Into is { } n ? $"it as table '{n}'" : "it")})",
            };
            Console.WriteLine($"Restored {what} from {from} into {where} {how}: {r.Rows} rows, {r.Bytes / 1048576.0:0.0} MiB of keys and values, in {seconds:0.0} s (the database's restore into scratch: {restored.Bytes / 1048576.0:0.0} MiB in {restored.Seconds:0.0} s).");
        }
        return Output.Ok;
    }

    /// <summary>Rows copied so far, on the progress line.</summary>
    private sealed class RowProgress(bool quiet) : IProgress<GranularProgress>
    {
        private readonly ProgressLine _line = new(quiet);

        public void Report(GranularProgress p)
        {
            if (_line.Due)
            {
                _line.Write($"restore: table '{p.Table}', {p.Rows} rows, {p.Bytes / 1048576.0:0.0} MiB copied");
            }
        }

        public void Done() => _line.Done();
    }
}
