using System.Diagnostics;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Repository.Compression;

namespace Blueback.Cli.Commands;

/// <summary>Where a backup is: the current file, and the whole set as far as its size is known (the images' from the
/// start; the logs' once the server has listed them).</summary>
public sealed record BackupProgress(string File, long FileDone, long FileSize, long SetDone, long SetKnown, bool LogsListed);

public sealed record BackupResult(string SetId, string? Parent, long RawBytes, long StoredBytes, string Codec, double Seconds, uint GenLow, uint GenHigh, IReadOnlyList<uint> Truncated);

/// <summary>The repository has no base for an incremental or differential backup.</summary>
public sealed class BackupRefusedByRepositoryException(string message) : Exception(message);

/// <summary>One backup into a repository: images, then logs, the manifest committed, and only then truncation and
/// the end of the session. Any failure or cancel before the commit removes the partial set and aborts the
/// session (bounded); nothing short of a committed manifest is left looking like a set.</summary>
public static class BackupRunner
{
    /// <summary>Environment variable naming a failpoint where the program stops (crash tests only).</summary>
    public const string FailpointVariable = "BLUEBACK_FAILPOINT";

    public static async Task<BackupResult> RunAsync(BluebackClient client, string server, BackupRepository repo, string instance, string type,
        Codec codec, Action<BackupProgress>? progress, CancellationToken ct)
    {
        var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        string? parent = type switch
        {
            "incremental" => sets.LastOrDefault(s => s.Instance == instance && s.Type is "full" or "incremental")?.SetId,
            "differential" => sets.LastOrDefault(s => s.Instance == instance && s.Type == "full")?.SetId,
            _ => null,
        };
        if (type is "incremental" or "differential" && parent is null)
        {
            throw new BackupRefusedByRepositoryException($"the repository has no full backup of instance '{instance}' to base a {type} backup on; take a full backup into it first.");
        }
        var sw = Stopwatch.StartNew();
        BackupSetWriter? writer = null;
        var session = await client.BeginBackupAsync(instance, type, ct).ConfigureAwait(false);
        session.AbortBound = TimeSpan.FromSeconds(1); // Ctrl+C must exit within 2 s, whatever the server does
        try
        {
            writer = repo.BeginSet(session.Id, codec);
            var manifest = new Manifest
            {
                ParentSetId = parent,
                Instance = instance,
                Server = server,
                Type = type,
                Started = DateTime.UtcNow,
                LogSignature = session.Info.LogSignature,
                GenLow = session.Info.GenLow,
                Databases = session.Databases.Select(d => new ManifestDatabase { Name = d.Name, Id = d.Id, Signature = d.Signature, PageSize = d.PageSize }).ToList(),
            };
            // What the set will hold, as far as it is known: every image's size from the start, the logs' once listed.
            var images = type is "full" or "copy" ? session.Databases : [];
            long known = images.Sum(d => d.ImageSize), before = 0;
            foreach (var db in images)
            {
                await using var image = await session.OpenDatabaseImageAsync(db.Name, ct).ConfigureAwait(false);
                var path = $"databases/{db.Name}.bdb";
                long at = before;
                await writer.AddFileAsync(path, image, done => progress?.Invoke(new BackupProgress(path, done, image.Length, at + done, known, LogsListed: false)), ct).ConfigureAwait(false);
                before += image.Length;
            }
            // Taken before the server closes the generation: every commit up to this time is in the set's logs.
            manifest.LogsCover = DateTime.UtcNow;
            var logs = await session.ListLogsAsync(ct).ConfigureAwait(false);
            manifest.GenHigh = logs.GenHigh;
            known = before + logs.Generations.Sum(g => g.Size);
            foreach (var g in logs.Generations)
            {
                await using var log = await session.OpenLogAsync(g.Generation, ct).ConfigureAwait(false);
                var path = $"logs/{g.File}";
                long at = before;
                await writer.AddFileAsync(path, log, done => progress?.Invoke(new BackupProgress(path, done, log.Length, at + done, known, LogsListed: true)), ct).ConfigureAwait(false);
                before += log.Length;
            }
            manifest.Ended = DateTime.UtcNow;
            await writer.CommitAsync(manifest, ct).ConfigureAwait(false);
            if (Environment.GetEnvironmentVariable(FailpointVariable) == "after-commit")
            {
                // A failpoint for crash tests: the set is committed and nothing is truncated yet; a test kills the
                // program here, at exactly this moment.
                Console.Error.WriteLine("blueback: failpoint after-commit reached");
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            // The set is durable: only now may the server delete the logs it holds.
            IReadOnlyList<uint> truncated = type is "full" or "incremental" ? await session.TruncateAsync(ct).ConfigureAwait(false) : [];
            await session.EndAsync(ct).ConfigureAwait(false);
            return new BackupResult(session.Id, parent, writer.RawBytes, writer.StoredBytes, writer.CodecName, sw.Elapsed.TotalSeconds, manifest.GenLow, manifest.GenHigh, truncated);
        }
        catch
        {
            if (writer is not null)
            {
                await writer.AbandonAsync(TimeSpan.FromMilliseconds(700)).ConfigureAwait(false); // leaves time in the 2 s for the session's abort
            }
            throw;
        }
        finally
        {
            await session.DisposeAsync().ConfigureAwait(false); // aborts within its bound unless the backup ended
        }
    }
}
