using System.CommandLine;
using System.Diagnostics;
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
        var repo = RepositoryCommands.RepoOption();
        var set = new Option<string>("--set") { Description = "The set to restore (its id), or 'latest'.", DefaultValueFactory = _ => "latest" };
        var instance = new Option<string?>("--instance") { Description = "With 'latest': which instance's sets (needed when the repository holds several)." };
        var to = new Option<string>("--to") { Description = "Server data directory to restore into (the instance goes to DIR/NAME).", Required = true };
        var asName = new Option<string?>("--as") { Description = "Name of the restored instance (default: the backed-up instance's name)." };
        var replace = new Option<bool>("--replace") { Description = "Restore over an existing, stopped instance: its database files are moved aside, its logs kept and played forward." };
        var stopAt = new Option<string?>("--stop-at") { Description = "Stop point: a time (ISO 8601, UTC unless a zone is given) or a log position GEN:OFFSET." };
        var noForward = new Option<bool>("--no-play-forward") { Description = "Replay only the restored sets' logs, not later generations in the instance's log directory." };
        var contiguous = new Option<bool>("--up-to-contiguous") { Description = "Play forward up to the first missing or foreign generation instead of failing there." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var cmd = new Command("restore", "Restore a backup set (and the chain it needs) into a data directory and recover it.") { repo, set, instance, to, asName, replace, stopAt, noForward, contiguous, json };
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            var options = new Options(pr.GetValue(repo)!, pr.GetValue(set)!, pr.GetValue(instance), pr.GetValue(to)!, pr.GetValue(asName), pr.GetValue(replace),
                pr.GetValue(stopAt), !pr.GetValue(noForward), pr.GetValue(contiguous), pr.GetValue(json));
            return await RepositoryCommands.GuardAsync(() => RunAsync(options, signals.Token)).ConfigureAwait(false);
        });
        return cmd;
    }

    private sealed record Options(string Repo, string Set, string? Instance, string To, string? As, bool Replace, string? StopAt, bool PlayForward, bool UpToContiguous, bool Json);

    private static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        try
        {
            return await RestoreAsync(o, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RestorePlanException or StorageException)
        {
            Console.Error.WriteLine($"blueback restore: {ex.Message}");
            return Output.Failed;
        }
    }

    private static async Task<int> RestoreAsync(Options o, CancellationToken ct)
    {
        var stop = o.StopAt is null ? null : RecoveryStop.Parse(o.StopAt);
        var repo = await RepositoryCommands.Open(o.Repo, ct).ConfigureAwait(false);
        var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        var chain = RestorePlanner.Plan(sets, o.Set, o.Instance, stop, liveLogsFollow: o.Replace && o.PlayForward);
        var name = o.As ?? chain[0].Instance;
        var r = await RunAsync(repo, chain, o.To, name, stop, o.PlayForward, o.UpToContiguous, o.Replace, o.Json, ct).ConfigureAwait(false);
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

    /// <summary>Restores <paramref name="chain"/> into DATA/NAME and recovers it. Shared by the command and the demo.</summary>
    public static async Task<RestoreResult> RunAsync(Repository.Repository repo, List<Manifest> chain, string dataDirectory, string name, RecoveryStop? stop,
        bool playForward, bool upToContiguous, bool replace, bool quiet, CancellationToken ct)
    {
        var full = chain[0];
        var dir = Path.GetFullPath(Path.Combine(dataDirectory, name));
        var setIds = chain.Select(s => s.SetId).ToList();
        if (RestoreRecord.Read(dir) is { Status: RestoreStatus.Done } done && done.Sets.SequenceEqual(setIds) && done.Stop == stop?.ToString())
        {
            var end = Blueback.Storage.Format.Lsn.TryParse(done.End ?? "", out var e) ? e : default;
            return new RestoreResult(dir, new HardRecoveryReport(default, end, done.TransactionsReplayed, 0, false, done.EndReason, done.LastCommitTime, done.SetAside), 0, 0, AlreadyDone: true);
        }
        var clock = Stopwatch.StartNew();
        var progress = new RestoreProgress(quiet, chain.Sum(s => s.Files.Where(f => s == full || f.Path.StartsWith("logs/", StringComparison.Ordinal)).Sum(f => f.Size)));
        var record = new RestoreRecord
        {
            Repository = repo.Store.Location,
            Sets = setIds,
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
        progress.Phase($"restoring {string.Join(" + ", chain.Select(s => $"{s.Type} {s.SetId}"))} ({progress.Total / 1048576.0:0.0} MiB) into {dir}");
        using (InstanceLock.Acquire(dir))
        {
            RestoreTarget.Prepare(dir, replace);
            record.Write(dir); // from here an interruption is visible, and the instance will not open
            try
            {
                await WriteFilesAsync(repo, chain, dir, record, progress, ct).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                record.Status = RestoreStatus.Failed;
                record.Error = ex is OperationCanceledException ? "stopped by the operator while files were being written" : ex.Message;
                record.Write(dir);
                throw;
            }
            record.Write(dir);
        }
        progress.Done();
        var report = HardRecovery.Run(dir, new InstanceOptions { Name = name }, progress.Phase, ct);
        return new RestoreResult(dir, report, progress.Total, clock.Elapsed.TotalSeconds, AlreadyDone: false);
    }

    /// <summary>The full set's images and every set's logs, each checked (chunk CRC32C, file SHA-256) and flushed.</summary>
    private static async Task WriteFilesAsync(Repository.Repository repo, List<Manifest> chain, string dir, RestoreRecord record, RestoreProgress progress, CancellationToken ct)
    {
        var full = chain[0];
        var logDir = Path.Combine(dir, StorageInstance.LogDirectoryName);
        Directory.CreateDirectory(logDir);
        foreach (var f in full.Files.Where(f => f.Path.StartsWith("databases/", StringComparison.Ordinal)))
        {
            var fileName = Path.GetFileName(f.Path);
            await ExtractAsync(repo, full, f, Path.Combine(dir, fileName), progress, ct).ConfigureAwait(false);
            record.Databases.Add(RestoreTarget.DescribeImage(dir, fileName, Path.GetFileNameWithoutExtension(fileName), out var imageStream));
            record.LogSignature = imageStream;
        }
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in chain)
        {
            foreach (var f in s.Files.Where(f => f.Path.StartsWith("logs/", StringComparison.Ordinal)))
            {
                var path = Path.Combine(logDir, Path.GetFileName(f.Path));
                if (!written.Add(f.Path))
                {
                    continue; // an overlapping generation, already written from an earlier set of the chain
                }
                if (File.Exists(path) && await SameAsync(path, f.Sha256, ct).ConfigureAwait(false))
                {
                    progress.Add(f.Path, f.Size, f.Size);
                    continue; // a live generation kept by --replace, identical to the set's copy
                }
                await ExtractAsync(repo, s, f, path, progress, ct).ConfigureAwait(false);
            }
        }
        RestoreTarget.SyncDirectories(dir);
        if (record.Databases.Count == 0)
        {
            throw new RestorePlanException($"set {full.SetId} holds no database image.");
        }
        // Hard recovery checks every image's trailer and every generation against this stream.
        if (chain.Any(s => s.LogSignature != full.LogSignature) || record.LogSignature.Id.ToString("N") != full.LogSignature)
        {
            throw new RestorePlanException($"the sets {string.Join(", ", chain.Select(s => s.SetId))} are not all of log stream {full.LogSignature} (the images say {record.LogSignature}); they come from different instances.");
        }
    }

    private static async Task ExtractAsync(Repository.Repository repo, Manifest set, ManifestFile f, string path, RestoreProgress progress, CancellationToken ct)
    {
        await using (var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
        {
            await SetVerifier.ExtractAsync(repo, set, f, fs, ct, done => progress.Add(f.Path, done, f.Size)).ConfigureAwait(false);
            fs.Flush(flushToDisk: true);
        }
    }

    private static async Task<bool> SameAsync(string path, string sha256, CancellationToken ct)
    {
        await using var fs = File.OpenRead(path);
        var hash = await System.Security.Cryptography.SHA256.HashDataAsync(fs, ct).ConfigureAwait(false);
        return string.Equals(Convert.ToHexStringLower(hash), sha256, StringComparison.Ordinal);
    }

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
