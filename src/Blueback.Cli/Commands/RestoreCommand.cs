using System.CommandLine;
using Blueback.Backup;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Restore;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback restore</c>, offline: picks the sets, writes their images and logs into an instance
/// directory under a restore record, runs hard recovery, and leaves an instance that <c>blueback serve</c> opens.
/// Run again after an interruption, it starts over (or says it is already done). The work is the backup library's
/// <see cref="RestoreJob"/>; this parses, picks the sink and prints.</summary>
internal static class RestoreCommand
{
    public static Command Build()
    {
        var repo = new RepoOptions();
        var set = new Option<string>("--set") { Description = "The set to restore (its id), or 'latest'.", DefaultValueFactory = _ => "latest" };
        var instance = new Option<string?>("--instance") { Description = "With 'latest': which instance's sets (needed when the repository holds several)." };
        var to = new Option<string?>("--to") { Description = "Offline: the server data directory to restore into (the instance goes to DIR/NAME), with no server running on it." };
        var server = new Option<string?>("--server") { Description = "Online: the running server to restore into (http://HOST:PORT or unix:/path.sock), through its restore API." };
        var asName = new Option<string?>("--as") { Description = "Name of the restored instance (offline default: the backed-up instance's name; online default: NAME-restored, beside the live one)." };
        var replace = new Option<bool>("--replace") { Description = "Restore over the existing instance: its database files are moved aside, its logs kept and played forward so no committed data is lost. Online, the server takes it offline meanwhile (503 on its data routes)." };
        var stopAt = new Option<string?>("--stop-at") { Description = "Stop point: a time (ISO 8601, UTC unless a zone is given) or a log position GEN:OFFSET." };
        var noForward = new Option<bool>("--no-play-forward") { Description = "Replay only the restored sets' logs, not later generations in the instance's log directory." };
        var contiguous = new Option<bool>("--up-to-contiguous") { Description = "Play forward up to the first missing or foreign generation instead of failing there." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var delta = new Option<bool>("--delta") { Description = "Offline, over an existing copy of the instance (older, or damaged): compare every page with the set's and rewrite only those that differ, then recover. Its logs are kept and played forward, as with --replace." };
        var database = new Option<string?>("--database") { Description = "Granular: restore only this database (with --server, into the live instance, in place with --replace; offline, a new instance holding it alone)." };
        var table = new Option<string?>("--table") { Description = "Granular: only this table of --database." };
        var fromKey = new Option<string?>("--from-key") { Description = "Granular: the key range's first key (inclusive; text, or base64:...); needs --table." };
        var toKey = new Option<string?>("--to-key") { Description = "Granular: the key range's end (exclusive; text, or base64:...); needs --table." };
        var into = new Option<string?>("--into") { Description = "Granular: write the table into this new table (refused if it exists) instead of in place." };
        var scratch = new Option<string?>("--scratch") { Description = "Granular: where the set's database is restored before its rows are copied (default: the system's temporary directory); removed afterwards." };
        var cmd = new Command("restore", "Restore a backup set (and the chain it needs) into a data directory and recover it; or, with --database, one database, table or key range of it.") { set, instance, to, server, asName, replace, delta, stopAt, noForward, contiguous, json, database, table, fromKey, toKey, into, scratch };
        repo.AddTo(cmd);
        var tokens = new TokenOptions();
        tokens.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            // A read blocked on a hung volume does not hold a ^C: the restore is then left as a killed one leaves it.
            signals.BoundStop(Signals.LowPriorityStopBound, "the restore is left as a killed restore leaves it (run it again; an online restore's session is aborted by the server when the connection drops)", static () => { });
            var options = new Options(repo.Location(pr), tokens.Resolve(pr), tokens.Trust(pr), pr.GetValue(set)!, pr.GetValue(instance), pr.GetValue(to), pr.GetValue(server), pr.GetValue(asName), pr.GetValue(replace) || pr.GetValue(delta), pr.GetValue(delta),
                pr.GetValue(stopAt), !pr.GetValue(noForward), pr.GetValue(contiguous), pr.GetValue(json))
            {
                Granular = new GranularOptions(pr.GetValue(database), pr.GetValue(table), pr.GetValue(fromKey), pr.GetValue(toKey), pr.GetValue(into), pr.GetValue(scratch)),
            };
            return await RepositoryCommands.GuardAsync(async () => await RunAsync(options, await repo.OpenAsync(pr, signals.Token).ConfigureAwait(false), signals.Token).ConfigureAwait(false), signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    internal sealed record Options(string Repo, string? Token, ServerTrust? Trust, string Set, string? Instance, string? To, string? Server, string? As, bool Replace, bool Delta, string? StopAt, bool PlayForward, bool UpToContiguous, bool Json)
    {
        public GranularOptions Granular { get; init; } = new(null, null, null, null, null, null);
    }

    private static async Task<int> RunAsync(Options o, BackupRepository repo, CancellationToken ct)
    {
        try
        {
            return await RestoreAsync(o, repo, ct).ConfigureAwait(false);
        }
        // Every restore failure, offline or online, whichever layer says it, is a RestoreException (a StorageException).
        catch (Exception ex) when (ex is StorageException or BluebackApiException or HttpRequestException && !ct.IsCancellationRequested)
        {
            Console.Error.WriteLine($"blueback restore: {ex.Message}");
            return Output.Failed;
        }
    }

    private static async Task<int> RestoreAsync(Options o, BackupRepository repo, CancellationToken ct)
    {
        if ((o.To is null) == (o.Server is null))
        {
            throw new RestorePlanException("say where to restore: --to DIR (offline, into a server's data directory) or --server URL (online, through a running server), not both.");
        }
        if (o.To is { } to && File.Exists(to))
        {
            throw new RestorePlanException($"--to '{Path.GetFullPath(to)}' is a file: restore goes into a server's data directory (created if missing, or the stopped server's with --replace). Give a directory.");
        }
        if (o.Delta && o.Server is not null)
        {
            throw new RestorePlanException("--delta patches the database files of an instance directory in place: it restores offline (--to DIR), with no server running on it.");
        }
        if (o.Granular.Any)
        {
            return await GranularRestoreCommand.RunAsync(o, repo, ct).ConfigureAwait(false);
        }
        if (o.Replace && o.As is not null)
        {
            throw new RestorePlanException("--replace restores over the instance of the sets' name; --as restores beside it under a new name. Choose one.");
        }
        var stop = o.StopAt is null ? null : RecoveryStop.Parse(o.StopAt);
        var chain = await RestorePlanner.PlanAsync(repo, o.Set, o.Instance, stop, liveLogsFollow: o.Replace && o.PlayForward, ct).ConfigureAwait(false);
        var options = new RestoreOptions(stop, o.PlayForward, o.UpToContiguous);
        var progress = new Progress(o.Json);
        RestoreResult r;
        string name;
        if (o.Server is { } url)
        {
            name = o.Replace ? chain[0].Instance : o.As ?? chain[0].Instance + "-restored";
            using var client = new BluebackClient(url, token: o.Token, trust: o.Trust);
            var sink = new ServerRestoreSink(client, name, o.Replace);
            await using (sink.ConfigureAwait(false))
            {
                r = await RestoreJob.RunAsync(repo, chain, sink, options, progress, ct).ConfigureAwait(false);
            }
        }
        else
        {
            name = o.As ?? chain[0].Instance;
            r = await RestoreJob.ToDirectoryAsync(repo, chain, o.To!, name, o.Replace, options, progress, ct, o.Delta).ConfigureAwait(false);
        }
        progress.Done();
        if (r.AlreadyDone)
        {
            Console.Error.WriteLine($"blueback restore: '{r.Directory}' already holds this restore, recovered to {r.Report.End}; nothing to do.");
            return Output.Ok;
        }
        var report = r.Report;
        if (o.Json)
        {
            Output.WriteJson(new { directory = r.Directory, instance = name, sets = chain.Select(s => s.SetId), stop = stop?.ToString(), end = report.End, stopReached = report.StopReached, endReason = report.EndReason, lastCommit = report.LastCommitTime, transactions = report.TransactionsReplayed, pages = report.PagesApplied, bytes = r.Bytes, wire = o.Server is null ? (long?)null : r.WireBytes, seconds = r.Seconds, setAside = report.SetAside, delta = r.Delta?.Select(d => new { database = d.Database, pages = d.Pages, rewritten = d.Rewritten, damaged = d.Damaged, wholeFile = d.WholeFile }) });
        }
        else
        {
            Console.WriteLine($"Restored {name} into {r.Directory} from {RestorePlanner.Describe(chain)}: {r.Bytes / 1048576.0:0.0} MiB{(o.Server is null ? "" : $" ({r.WireBytes / 1048576.0:0.0} MiB over the network)")} in {r.Seconds:0.0} s ({r.Bytes / 1e6 / Math.Max(r.Seconds, 0.001):0} MB/s); replayed {report.TransactionsReplayed} transactions from {report.From} to {report.End}{(report.LastCommitTime is { } t ? $" (last commit {t:O})" : "")}.");
            foreach (var d in r.Delta ?? [])
            {
                Console.WriteLine(d.WholeFile
                    ? $"  Delta: database {d.Database} was not there; written whole ({d.Pages} pages)."
                    : $"  Delta: database {d.Database}: {d.Rewritten} of {d.Pages} pages differed and were rewritten{(d.Damaged > 0 ? $" ({d.Damaged} of them damaged in the old copy)" : "")}; {d.Pages - d.Rewritten} kept.");
            }
            if (report.EndReason is not null)
            {
                Console.WriteLine($"  Replay stopped because {report.EndReason}.");
            }
            if (report.SetAside is not null)
            {
                Console.WriteLine($"  Generations after the stop point were kept in {report.SetAside}.");
            }
        }
        return Output.Ok;
    }

    /// <summary>Restore progress: bytes written of the total, rate and time left, then recovery's phases.</summary>
    internal sealed class Progress(bool quiet) : IProgress<RestoreProgress>
    {
        private readonly ProgressLine _line = new(quiet);

        public void Report(RestoreProgress p)
        {
            if (p.Phase is { } phase)
            {
                _line.Done();
                if (!quiet)
                {
                    Console.Error.WriteLine($"restore: {phase}");
                }
                return;
            }
            if (!_line.Due)
            {
                return;
            }
            double rate = p.Done / 1e6 / Math.Max(0.001, _line.Elapsed.TotalSeconds);
            var left = rate > 0 ? $", {(p.Total - p.Done) / 1e6 / rate:0}s left" : "";
            _line.Write($"restore: {p.File}, {p.Done / 1048576.0:0}/{p.Total / 1048576.0:0} MiB, {rate:0} MB/s{left}");
        }

        public void Done() => _line.Done();
    }
}
