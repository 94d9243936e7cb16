using Blueback.Protocol;
using Blueback.Protocol.Programs;
using System.CommandLine;
using Blueback.Backup;
using Blueback.Client;
using Blueback.IO;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Storage.Backup;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback backup</c>: an online backup of a running server into a repository. The set is committed
/// (manifest written last) before the server is asked to truncate; anything short of that leaves no set.</summary>
internal static class BackupCommand
{
    /// <summary>Environment variable naming a failpoint where the program waits (crash tests only): "after-commit"
    /// waits, at most a minute, between the set's commit and the server's truncation, for a test to kill it there.</summary>
    public const string FailpointVariable = "BLUEBACK_FAILPOINT";
    private static readonly TimeSpan FailpointWait = TimeSpan.FromMinutes(1);

    public static Command Build()
    {
        var server = new Option<string>("--server") { Description = "Server address: http://HOST:PORT or unix:/path.sock.", DefaultValueFactory = _ => "http://127.0.0.1:7420" };
        var instance = new Option<string>("--instance") { Description = "Instance to back up.", DefaultValueFactory = _ => "store" };
        var type = new Option<string>("--type") { Description = "full, copy, incremental or differential.", DefaultValueFactory = _ => BackupType.Full.Name() };
        type.Validators.Add(r =>
        {
            if (!BackupTypes.TryParse(r.GetValueOrDefault<string>(), out _))
            {
                r.AddError($"--type '{r.GetValueOrDefault<string>()}' is not one of full, copy, incremental, differential.");
            }
        });
        var changedPages = new Option<bool>("--changed-pages")
        {
            Description = "With --type incremental or differential: store the pages changed since the chain's last set that holds pages (and the logs from this backup's checkpoint) instead of every log record since the parent.",
        };
        var skipUnchanged = new Option<bool>("--skip-unchanged")
        {
            Description = "With --type full: do not read again the pages unchanged since the repository's newest full set of the instance began (the server's page maps say which); their chunks are named from that set. Much faster where little changed, but those pages' checksums are not checked again: take a full without it from time to time.",
        };
        var readAllAfter = new Option<string?>("--read-all-after")
        {
            Description = "With --skip-unchanged: read every page anyway when the newest full set that did (so every page's checksum was checked) ended longer ago than this duration (7d, 12h...), or there is none.",
        };
        readAllAfter.Validators.Add(r =>
        {
            try
            {
                _ = r.GetValueOrDefault<string?>() is { } d ? Durations.Parse(d, "--read-all-after") : default;
            }
            catch (FormatException ex)
            {
                r.AddError(ex.Message);
            }
        });
        var streams = new Option<int>("--streams")
        {
            Description = "Connections each database image is read over at once, in 32 MiB parts (1: one stream per image).",
            DefaultValueFactory = _ => BackupRequest.DefaultStreams,
        };
        streams.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 16)
            {
                r.AddError("--streams takes 1 to 16.");
            }
        });
        var repo = new RepoOptions();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var noCompress = new Option<bool>("--no-compress") { Description = "Store chunks uncompressed (the same as --compress none)." };
        var compress = new Option<string>("--compress")
        {
            Description = "Where chunks are hashed and compressed: server (where the bytes leave it: a remote backup moves compressed bytes, and none the repository holds), client (this program, from raw pages: a third to a half of the server's CPU), none (stored uncompressed; the server still leaves out what the repository holds), or auto: client for a server on this host (unix:, localhost or a loopback address), server for any other, and server with --skip-unchanged.",
            DefaultValueFactory = _ => "auto",
        };
        compress.AcceptOnlyFromAmong("auto", "server", "client", "none");
        var nice = new Option<int>("--nice")
        {
            Description = "CPU priority of this program (Linux nice, 0 to 19): backups yield to the server's clients on a shared machine. 19 also takes the idle scheduling class (the program runs on cores nothing else wants); 0 runs at normal priority.",
            DefaultValueFactory = _ => Niceness.Background,
        };
        nice.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 0 or > 19)
            {
                r.AddError("--nice takes 0 (normal priority) to 19 (the lowest).");
            }
        });
        var digest = new Option<bool>("--digest")
        {
            Description = "Record every table's digest at the end of the backup's log range (the server takes it at low priority while the logs are copied): 'blueback prove' then compares a restore of the set with it.",
        };
        var cmd = new Command("backup", "Take an online backup of a server's instance into a repository.") { server, instance, type, changedPages, skipUnchanged, readAllAfter, streams, digest, json, noCompress, compress, nice };
        cmd.Validators.Add(r =>
        {
            if (r.GetValue(changedPages) && Parse(r.GetValue(type)).IncludesDatabases())
            {
                r.AddError("--changed-pages goes with --type incremental or differential (a full or copy backup copies every page).");
            }
            if (r.GetValue(skipUnchanged) && (Parse(r.GetValue(type)) != BackupType.Full || r.GetValue(compress) == "client"))
            {
                r.AddError("--skip-unchanged goes with --type full, with chunks cut by the server (not --compress client).");
            }
            if (r.GetValue(readAllAfter) is not null && !r.GetValue(skipUnchanged))
            {
                r.AddError("--read-all-after goes with --skip-unchanged.");
            }
            if (r.GetValue(noCompress) && r.GetValue(compress) == "client")
            {
                r.AddError("--no-compress stores chunks uncompressed: it does not go with --compress client.");
            }
        });
        repo.AddTo(cmd);
        var tokens = new TokenOptions();
        tokens.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            // Like the server's backup reads: the backup is background work, on both sides of a local backup.
            Niceness.LowerProcess(pr.GetValue(nice));
            if (pr.GetValue(nice) >= Niceness.Lowest)
            {
                Niceness.IdleProcessFromNowOn(); // as prove does: the idle scheduling class too (docs/backup.md, "Priority")
            }
            using var signals = new Signals();
            signals.BoundStop(Signals.LowPriorityStopBound, "the partial set has no manifest, so it is not a set ('blueback repo gc' removes its files), and the server ends the session when its lease runs out", static () => { });
            return await RepositoryCommands.GuardAsync(async () => await RunAsync(pr.GetValue(server)!, tokens.Resolve(pr), tokens.Trust(pr), pr.GetValue(instance)!, Parse(pr.GetValue(type)), pr.GetValue(changedPages), pr.GetValue(skipUnchanged), pr.GetValue(readAllAfter) is { } every ? Durations.Parse(every, "--read-all-after") : null, pr.GetValue(streams), pr.GetValue(digest),
                await repo.OpenAsync(pr, signals.Token).ConfigureAwait(false), pr.GetValue(json), pr.GetValue(noCompress) ? "none" : pr.GetValue(compress)!, signals.Token).ConfigureAwait(false), signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    private static BackupType Parse(string? type) => BackupTypes.TryParse(type, out var t) ? t : BackupType.Full; // validated above

    private static async Task<int> RunAsync(string server, string? token, Client.ServerTrust? trust, string instance, BackupType type, bool changedPages, bool skipUnchanged, TimeSpan? readAllAfter, int streams, bool digest, BackupRepository repo, bool json, string compress, CancellationToken ct)
    {
        using var client = new BluebackClient(server, token: token, trust: trust);
        var progress = new Progress(json);
        BackupResult r;
        try
        {
            var request = new BackupRequest(instance, type) { Codec = compress == "none" ? Codec.None : Codec.Default(), CompressOnServer = compress == "auto" ? BackupRequest.CompressOnServerFor(server, skipUnchanged) : compress != "client", AfterCommit = Failpoint(), ChangedPages = changedPages, SkipUnchanged = skipUnchanged, ReadAllAfter = readAllAfter, Streams = streams, Digest = digest };
            r = await BackupJob.RunAsync(client, repo, request, progress, ct).ConfigureAwait(false);
        }
        catch (BackupRefusedByRepositoryException ex) when (!ct.IsCancellationRequested)
        {
            Console.Error.WriteLine($"blueback backup: {ex.Message}");
            return Output.Failed;
        }
        catch (BackupStoppedAfterCommitException ex) when (json)
        {
            // Exit 130 (GuardAsync says so), but a caller reading the output (a policy) must learn the set exists.
            WriteCommittedJson(ex.SetId, instance, type, "stopped");
            throw;
        }
        catch (BackupFailedAfterCommitException ex) when (!ct.IsCancellationRequested)
        {
            // Not all done, so not a success (exit 2), but the set is there: said first, by its id.
            Console.Error.WriteLine($"blueback backup: {ex.Message}");
            if (json)
            {
                WriteCommittedJson(ex.SetId, instance, type, ex.InnerException?.Message ?? ex.Message);
            }
            return Output.Failed;
        }
        catch (Exception ex) when (ex is BluebackApiException or BackupStreamException or HttpRequestException or IOException or RepositoryException && !ct.IsCancellationRequested)
        {
            var remedy = ex is IOException && ex.Message.Contains("space", StringComparison.OrdinalIgnoreCase) ? " Free space in the repository or use a larger one, then run the backup again." : "";
            Console.Error.WriteLine($"blueback backup: {ex.Message.TrimEnd('.', ' ')}. No set was written; the server's logs were not truncated.{remedy}");
            return Output.Failed;
        }
        progress.Done();
        if (json)
        {
            Output.WriteJson(new BackupOutput
            {
                Set = r.SetId,
                Instance = instance,
                Type = type.Name(),
                Parent = r.Parent,
                Bytes = r.RawBytes,
                Stored = r.StoredBytes,
                Reused = r.ReusedBytes,
                Wire = r.WireBytes,
                CompressedOn = r.CompressedOnServer ? "server" : "client",
                Codec = r.Codec,
                Seconds = r.Seconds,
                GenLow = r.GenLow,
                GenHigh = r.GenHigh,
                Truncated = [.. r.Truncated],
                ChangedSince = r.ChangedSince,
                ChainHead = r.ChainHead,
                WholeImages = [.. r.WholeImages],
                UnreadBytes = r.UnreadBytes,
                UnchangedFrom = r.UnchangedFrom,
                ReadInFull = [.. r.ReadInFull],
                Digest = digest,
            });
        }
        else
        {
            foreach (var why in r.WholeImages)
            {
                // Never silent: a changed-pages set that holds a whole image says which and why.
                Console.Error.WriteLine($"blueback backup: whole image instead of changed pages: {why}.");
            }
            foreach (var why in r.ReadInFull)
            {
                // Never silent either: a full asked to skip unchanged pages that read some in full says why.
                Console.Error.WriteLine($"blueback backup: every page read: {why}.");
            }
            if (r.UnchangedFrom is { } from)
            {
                Console.WriteLine($"{r.UnreadBytes / 1048576.0:0.0} MiB of pages unchanged since set {from} began were not read again (their chunks are that set's).");
            }
            Console.WriteLine($"Backup set {r.SetId}: {type.Name()}{(r.ChangedSince is { } since ? $" (pages changed since generation {since})" : "")} of {instance}, generations {r.GenLow}-{r.GenHigh}, {r.RawBytes / 1048576.0:0.0} MiB ({r.StoredBytes / 1048576.0:0.0} MiB stored{(r.ReusedBytes > 0 ? $", {r.ReusedBytes / 1048576.0:0.0} MiB already in the repository" : "")}, {r.Codec}{(r.CompressedOnServer ? $" on the server; {r.WireBytes / 1048576.0:0.0} MiB over the network" : " compressed here")}) in {r.Seconds:0.0} s ({r.RawBytes / 1e6 / Math.Max(r.Seconds, 0.001):0} MB/s); {r.Truncated.Count} log generation(s) truncated on the server.");
        }
        return Output.Ok;
    }

    /// <summary>The crash tests' failpoint, if the environment names it: the set is committed and nothing is
    /// truncated yet; a test kills the program while it waits here (bounded: it carries on after a minute).</summary>
    /// <summary>The set of a backup that ended (exit 2 or 130) after its commit: it is listed and restores; what
    /// did not happen after the commit (the log truncation, the session's end) is <paramref name="afterCommit"/>.</summary>
    private static void WriteCommittedJson(string setId, string instance, BackupType type, string afterCommit) =>
        Output.WriteJson(new BackupOutput { Set = setId, Instance = instance, Type = type.Name(), Committed = true, AfterCommit = afterCommit, Digest = false });

    private static Func<CancellationToken, Task>? Failpoint() =>
        Environment.GetEnvironmentVariable(FailpointVariable) != "after-commit" ? null : async ct =>
        {
            await Console.Error.WriteLineAsync("blueback: failpoint after-commit reached").ConfigureAwait(false);
            await Task.Delay(FailpointWait, ct).ConfigureAwait(false);
        };

    /// <summary>Backup progress: the current file, the set so far of what is known of it, rate, and time left.</summary>
    private sealed class Progress(bool quiet) : IProgress<BackupProgress>
    {
        private readonly ProgressLine _line = new(quiet);

        public void Report(BackupProgress p)
        {
            if (!_line.Due)
            {
                return;
            }
            double rate = p.SetDone / 1e6 / Math.Max(0.001, _line.Elapsed.TotalSeconds);
            var left = rate > 0 ? $", {(p.SetKnown - p.SetDone) / 1e6 / rate:0}s left{(p.LogsListed ? "" : " before the logs")}" : "";
            _line.Write($"backup: {p.File} {p.FileDone / 1048576.0:0}/{p.FileSize / 1048576.0:0} MiB; set {p.SetDone / 1048576.0:0}/{p.SetKnown / 1048576.0:0} MiB{(p.LogsListed ? "" : " + logs")}, {rate:0} MB/s{left}");
        }

        public void Done() => _line.Done();
    }
}
