using System.CommandLine;
using System.Globalization;
using Blueback.Backup;
using Blueback.Protocol.Programs;
using Blueback.Repository;
using Blueback.Repository.Crypto;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback repo copy</c>: sets and shipped generations from one repository into another (a second site).
/// Pull mode: the source is only read, the destination only added to.</summary>
internal static class CopyCommand
{
    /// <summary>The passphrase of an encrypted source, when it differs from <c>BLUEBACK_REPO_PASSWORD</c>.</summary>
    public const string FromPasswordVariable = "BLUEBACK_FROM_REPO_PASSWORD";

    /// <summary>The passphrase of an encrypted destination, when it differs from <c>BLUEBACK_REPO_PASSWORD</c>.</summary>
    public const string ToPasswordVariable = "BLUEBACK_TO_REPO_PASSWORD";

    public static Command Build()
    {
        var from = new Option<string>("--from") { Description = "The repository to copy from (only read): a directory, or s3://BUCKET/PREFIX.", Required = true };
        var to = new Option<string>("--to") { Description = "The repository to copy into (only added to; create it first with 'blueback repo init', encrypted or not).", Required = true };
        var set = new Option<string?>("--set") { Description = "Copy this set (its id, or a unique prefix of 8 characters or more) and the sets of its chain the destination lacks." };
        var all = new Option<bool>("--all") { Description = "Copy every set and shipped log generation the destination lacks." };
        var since = new Option<string?>("--since") { Description = "Copy the sets (with their chains) and shipped generations that ended at or after this time (ISO 8601, UTC unless a zone is given)." };
        var fromKey = new Option<string?>("--from-key-file") { Description = $"The source's key file, if it is encrypted (otherwise its passphrase comes from ${FromPasswordVariable}, else ${RepositorySecret.PasswordVariable})." };
        var toKey = new Option<string?>("--to-key-file") { Description = $"The destination's key file, if it is encrypted (otherwise its passphrase comes from ${ToPasswordVariable}, else ${RepositorySecret.PasswordVariable})." };
        var fromEndpoint = new Option<string?>("--from-s3-endpoint") { Description = "The source's S3-compatible endpoint, where it differs from the destination's (default: --s3-endpoint)." };
        var toEndpoint = new Option<string?>("--to-s3-endpoint") { Description = "The destination's S3-compatible endpoint, where it differs from the source's (default: --s3-endpoint)." };
        var fromRegion = new Option<string?>("--from-s3-region") { Description = "The source's S3 region (default: --s3-region)." };
        var toRegion = new Option<string?>("--to-s3-region") { Description = "The destination's S3 region (default: --s3-region)." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var repo = new RepoOptions();
        var cmd = new Command("copy", "Copy backup sets and shipped log generations into a second repository (any kind, encrypted or not): each chunk checked, what the destination holds skipped, each set committed whole. Run again to resume.")
        { from, to, set, all, since, fromKey, toKey, fromEndpoint, toEndpoint, fromRegion, toRegion, json };
        repo.AddTo(cmd, withRepo: false, withKeyFile: false);
        cmd.Validators.Add(r =>
        {
            int chosen = (r.GetValue(set) is null ? 0 : 1) + (r.GetValue(all) ? 1 : 0) + (r.GetValue(since) is null ? 0 : 1);
            if (chosen != 1)
            {
                r.AddError("Say what to copy: one of --set ID, --all or --since TIME.");
            }
            if (r.GetValue(since) is { } text && !TryParseTime(text, out _))
            {
                r.AddError($"--since '{text}' is not a time: write ISO 8601, such as 2026-12-01T00:00:00Z.");
            }
        });
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            signals.BoundStop(Signals.LowPriorityStopBound, "the set being copied has no manifest in the destination, so it is not listed; run the copy again to resume", static () => { });
            return await RepositoryCommands.GuardAsync(async () =>
            {
                var ct = signals.Token;
                var source = await OpenAsync(repo, pr, repo.Store(pr, pr.GetValue(from)!, pr.GetValue(fromEndpoint), pr.GetValue(fromRegion)), RepositorySecret.FromKeyFileOrEnvironment(pr.GetValue(fromKey), FromPasswordVariable) ?? RepositorySecret.FromKeyFileOrEnvironment(null), ct).ConfigureAwait(false);
                var target = await OpenAsync(repo, pr, repo.Store(pr, pr.GetValue(to)!, pr.GetValue(toEndpoint), pr.GetValue(toRegion)), RepositorySecret.FromKeyFileOrEnvironment(pr.GetValue(toKey), ToPasswordVariable) ?? RepositorySecret.FromKeyFileOrEnvironment(null), ct).ConfigureAwait(false);
                DateTime? after = pr.GetValue(since) is { } text && TryParseTime(text, out var t) ? t : null;
                var selection = new CopySelection(pr.GetValue(set), pr.GetValue(all), after);
                var progress = new Progress(pr.GetValue(json));
                CopyResult r;
                try
                {
                    r = await RepositoryCopy.RunAsync(source, target, selection, progress, ct).ConfigureAwait(false);
                }
                catch (CopySourceDamagedException ex) when (!ct.IsCancellationRequested)
                {
                    Console.Error.WriteLine($"blueback repo copy: {ex.Message}");
                    return Output.ProblemFound;
                }
                catch (ChainBrokenException ex) when (!ct.IsCancellationRequested)
                {
                    Console.Error.WriteLine($"blueback repo copy: {ex.Message}");
                    return Output.Failed;
                }
                progress.Done();
                Print(r, source, target, pr.GetValue(json));
                return Output.Ok;
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    private static async Task<BackupRepository> OpenAsync(RepoOptions repo, ParseResult pr, Repository.Stores.IRepositoryStore store, RepositorySecret? secret, CancellationToken ct)
    {
        var r = await BackupRepository.OpenAsync(store, secret, ct).ConfigureAwait(false);
        r.Parallelism = Math.Clamp(pr.GetValue(repo.Parallel), 1, 64);
        return r;
    }

    private static bool TryParseTime(string text, out DateTime time) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out time);

    private static void Print(CopyResult r, BackupRepository source, BackupRepository target, bool json)
    {
        if (json)
        {
            Output.WriteJson(new CopyOutput
            {
                From = source.Store.Location,
                To = target.Store.Location,
                Copied = r.Copied,
                AlreadyThere = r.AlreadyThere,
                ShippedCopied = r.ShippedCopied,
                ShippedAlreadyThere = r.ShippedAlreadyThere,
                Bytes = r.Bytes,
                Read = r.ReadBytes,
                Stored = r.WrittenBytes,
                Reused = r.ReusedBytes,
                Seconds = r.Seconds,
            });
            return;
        }
        foreach (var id in r.AlreadyThere)
        {
            Console.WriteLine($"Set {id}: already in {target.Store.Location}.");
        }
        Console.WriteLine($"Copied {r.Copied.Count} set(s){(r.Copied.Count > 0 ? $" ({string.Join(", ", r.Copied)})" : "")} and {r.ShippedCopied} shipped generation(s) from {source.Store.Location} to {target.Store.Location}: "
            + $"{r.Bytes / 1048576.0:0.0} MiB ({r.ReadBytes / 1048576.0:0.0} MiB read, {r.WrittenBytes / 1048576.0:0.0} MiB stored, {r.ReusedBytes / 1048576.0:0.0} MiB already there) in {r.Seconds:0.0} s ({r.Bytes / 1e6 / Math.Max(r.Seconds, 0.001):0} MB/s); "
            + $"{r.AlreadyThere.Count} set(s) and {r.ShippedAlreadyThere} shipped generation(s) were there already.");
    }

    /// <summary>Copy progress: the set being copied, the bytes of all chosen, the rate and the time left.</summary>
    private sealed class Progress(bool quiet) : IProgress<CopyProgress>
    {
        private readonly ProgressLine _line = new(quiet);

        public void Report(CopyProgress p)
        {
            if (!_line.Due)
            {
                return;
            }
            double rate = p.Done / 1e6 / Math.Max(0.001, _line.Elapsed.TotalSeconds);
            var left = rate > 0 ? $", {(p.Total - p.Done) / 1e6 / rate:0}s left" : "";
            _line.Write($"copy: {p.Item}; {p.Done / 1048576.0:0}/{p.Total / 1048576.0:0} MiB, {rate:0} MB/s{left}");
        }

        public void Done() => _line.Done();
    }
}
