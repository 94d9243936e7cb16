using System.CommandLine;
using System.Diagnostics;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Log;
using Blueback.Storage.Restore;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback restore</c>, offline: picks the sets, writes their images and logs into an instance
/// directory under a restore record, runs hard recovery, and leaves an instance that <c>blueback serve</c> opens.
/// Run again after an interruption, it starts over (or says it is already done).</summary>
/// <summary>What a restore did: where, hard recovery's report, bytes written and time taken.</summary>
public sealed record RestoreResult(string Directory, HardRecoveryReport Report, long Bytes, double Seconds, bool AlreadyDone);

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
        var cmd = new Command("restore", "Restore a backup set (and the chain it needs) into a data directory and recover it.") { set, instance, to, server, asName, replace, stopAt, noForward, contiguous, json };
        repo.AddTo(cmd);
        var tokens = new TokenOptions();
        tokens.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            var options = new Options(repo.Location(pr), tokens.Resolve(pr), tokens.Trust(pr), pr.GetValue(set)!, pr.GetValue(instance), pr.GetValue(to), pr.GetValue(server), pr.GetValue(asName), pr.GetValue(replace),
                pr.GetValue(stopAt), !pr.GetValue(noForward), pr.GetValue(contiguous), pr.GetValue(json));
            return await RepositoryCommands.GuardAsync(async () => await RunAsync(options, await repo.OpenAsync(pr, signals.Token).ConfigureAwait(false), signals.Token).ConfigureAwait(false)).ConfigureAwait(false);
        });
        return cmd;
    }

    private sealed record Options(string Repo, string? Token, ServerTrust? Trust, string Set, string? Instance, string? To, string? Server, string? As, bool Replace, string? StopAt, bool PlayForward, bool UpToContiguous, bool Json);

    private static async Task<int> RunAsync(Options o, BackupRepository repo, CancellationToken ct)
    {
        try
        {
            return await RestoreAsync(o, repo, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RestorePlanException or StorageException or RestoreFailedException or BluebackApiException or HttpRequestException)
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
        if (o.Replace && o.As is not null)
        {
            throw new RestorePlanException("--replace restores over the instance of the sets' name; --as restores beside it under a new name. Choose one.");
        }
        var stop = o.StopAt is null ? null : RecoveryStop.Parse(o.StopAt);
        var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        var chain = RestorePlanner.Plan(sets, o.Set, o.Instance, stop, liveLogsFollow: o.Replace && o.PlayForward);
        RestoreResult r;
        string name;
        if (o.Server is { } url)
        {
            name = o.Replace ? chain[0].Instance : o.As ?? chain[0].Instance + "-restored";
            using var client = new BluebackClient(url, token: o.Token, trust: o.Trust);
            var sink = new ServerRestoreSink(client, name, o.Replace);
            await using (sink.ConfigureAwait(false))
            {
                r = await RunAsync(repo, chain, sink, stop, o.PlayForward, o.UpToContiguous, o.Json, ct).ConfigureAwait(false);
            }
        }
        else
        {
            name = o.As ?? chain[0].Instance;
            r = await RunAsync(repo, chain, o.To!, name, stop, o.PlayForward, o.UpToContiguous, o.Replace, o.Json, ct).ConfigureAwait(false);
        }
        if (r.AlreadyDone)
        {
            Console.Error.WriteLine($"blueback restore: '{r.Directory}' already holds this restore, recovered to {r.Report.End}; nothing to do.");
            return Output.Ok;
        }
        var report = r.Report;
        if (o.Json)
        {
            Output.WriteJson(new { directory = r.Directory, instance = name, sets = chain.Select(s => s.SetId), stop = stop?.ToString(), end = report.End, stopReached = report.StopReached, endReason = report.EndReason, lastCommit = report.LastCommitTime, transactions = report.TransactionsReplayed, pages = report.PagesApplied, bytes = r.Bytes, seconds = r.Seconds, setAside = report.SetAside });
        }
        else
        {
            Console.WriteLine($"Restored {name} into {r.Directory} from {string.Join(" + ", chain.Select(s => $"{s.Type} {s.SetId}"))}: {r.Bytes / 1048576.0:0.0} MiB in {r.Seconds:0.0} s ({r.Bytes / 1e6 / Math.Max(r.Seconds, 0.001):0} MB/s); replayed {report.TransactionsReplayed} transactions from {report.From} to {report.End}{(report.LastCommitTime is { } t ? $" (last commit {t:O})" : "")}.");
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

    /// <summary>Restores <paramref name="chain"/> into DATA/NAME and recovers it, offline. Shared by the command and the demo.</summary>
    public static async Task<RestoreResult> RunAsync(BackupRepository repo, List<Manifest> chain, string dataDirectory, string name, RecoveryStop? stop,
        bool playForward, bool upToContiguous, bool replace, bool quiet, CancellationToken ct)
    {
        var dir = Path.GetFullPath(Path.Combine(dataDirectory, name));
        if (RestoreRecord.Read(dir) is { Status: RestoreStatus.Done } done && done.Sets.SequenceEqual(chain.Select(s => s.SetId)) && done.Stop == stop?.ToString())
        {
            var end = Blueback.Storage.Format.Lsn.TryParse(done.End ?? "", out var e) ? e : default;
            return new RestoreResult(dir, new HardRecoveryReport(default, end, done.TransactionsReplayed, 0, false, done.EndReason, done.LastCommitTime, done.SetAside), 0, 0, AlreadyDone: true);
        }
        var sink = new DirectoryRestoreSink(dir, name, replace);
        await using (sink.ConfigureAwait(false))
        {
            return await RunAsync(repo, chain, sink, stop, playForward, upToContiguous, quiet, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The restore itself, wherever it writes: the record, every file checked on the way, then recovery.</summary>
    private static async Task<RestoreResult> RunAsync(BackupRepository repo, List<Manifest> chain, IRestoreSink sink, RecoveryStop? stop,
        bool playForward, bool upToContiguous, bool quiet, CancellationToken ct)
    {
        var full = chain[0];
        if (chain.FirstOrDefault(s => s.LogSignature != full.LogSignature) is { } foreign)
        {
            throw new RestorePlanException($"set {foreign.SetId} is of log stream {foreign.LogSignature}, set {full.SetId} of {full.LogSignature}: they come from different instances and cannot be restored together.");
        }
        var clock = Stopwatch.StartNew();
        var progress = new RestoreProgress(quiet, chain.Sum(s => s.Files.Where(f => s == full || f.Path.StartsWith("logs/", StringComparison.Ordinal)).Sum(f => f.Size)));
        var record = new RestoreRecord
        {
            Repository = repo.Store.Location,
            Sets = chain.Select(s => s.SetId).ToList(),
            SourceInstance = full.Instance,
            SourceServer = full.Server,
            GenLow = full.GenLow,
            GenHigh = chain.Max(s => s.GenHigh),
            ConsistentAfter = full.GenHigh,
            Stop = stop?.ToString(),
            PlayForward = playForward,
            UpToContiguous = upToContiguous,
            Created = DateTime.UtcNow,
        };
        progress.Phase($"restoring {string.Join(" + ", chain.Select(s => $"{s.Type} {s.SetId}"))} ({progress.Total / 1048576.0:0.0} MiB) into {sink.Where}");
        await sink.BeginAsync(record, ct).ConfigureAwait(false); // from here an interruption is visible, and the instance will not open
        try
        {
            await WriteFilesAsync(repo, chain, sink, progress, ct).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await sink.FailAsync(ex is OperationCanceledException ? "stopped by the operator while files were being written" : ex.Message).ConfigureAwait(false);
            throw;
        }
        progress.Done();
        var report = await sink.RecoverAsync(progress.Phase, ct).ConfigureAwait(false);
        return new RestoreResult(sink.Where, report, progress.Total, clock.Elapsed.TotalSeconds, AlreadyDone: false);
    }

    /// <summary>The full set's images and every set's logs, each checked (chunk CRC32C, file SHA-256) on the way.</summary>
    private static async Task WriteFilesAsync(BackupRepository repo, List<Manifest> chain, IRestoreSink sink, RestoreProgress progress, CancellationToken ct)
    {
        var full = chain[0];
        var images = full.Files.Where(f => f.Path.StartsWith("databases/", StringComparison.Ordinal)).ToList();
        if (images.Count == 0)
        {
            throw new RestorePlanException($"set {full.SetId} holds no database image.");
        }
        foreach (var f in images)
        {
            await sink.WriteDatabaseAsync(Path.GetFileNameWithoutExtension(f.Path), f, Copy(repo, full, f, progress), ct).ConfigureAwait(false);
        }
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in chain)
        {
            foreach (var f in s.Files.Where(f => f.Path.StartsWith("logs/", StringComparison.Ordinal)))
            {
                if (!written.Add(f.Path))
                {
                    continue; // an overlapping generation, already written from an earlier set of the chain
                }
                if (!LogFiles.TryParseGeneration(Path.GetFileName(f.Path), out uint generation))
                {
                    throw new RestorePlanException($"set {s.SetId} holds '{f.Path}', which is not named as a log generation. Run 'blueback verify --set {s.SetId}'.");
                }
                if (!await sink.WriteLogAsync(generation, f, Copy(repo, s, f, progress), ct).ConfigureAwait(false))
                {
                    progress.Add(f.Path, f.Size, f.Size);
                }
            }
        }
    }

    private static Func<Stream, CancellationToken, Task> Copy(BackupRepository repo, Manifest set, ManifestFile f, RestoreProgress progress) =>
        (destination, ct) => SetVerifier.ExtractAsync(repo, set, f, destination, ct, done => progress.Add(f.Path, done, f.Size));

    /// <summary>Restore progress: bytes written of the total, rate and time left, then recovery's phases.</summary>
    private sealed class RestoreProgress(bool quiet, long total)
    {
        private readonly ProgressLine _line = new(quiet);
        private long _bytes;
        private long _fileDone;

        public long Total => total;

        public void Add(string file, long done, long size)
        {
            _bytes += done - _fileDone;
            _fileDone = done == size ? 0 : done;
            if (!_line.Due)
            {
                return;
            }
            double rate = _bytes / 1e6 / Math.Max(0.001, _line.Elapsed.TotalSeconds);
            var left = rate > 0 ? $", {(total - _bytes) / 1e6 / rate:0}s left" : "";
            _line.Write($"restore: {file}, {_bytes / 1048576.0:0}/{total / 1048576.0:0} MiB, {rate:0} MB/s{left}");
        }

        public void Done() => _line.Done();

        public void Phase(string what)
        {
            if (!quiet)
            {
                Console.Error.WriteLine($"restore: {what}");
            }
        }
    }
}
