using System.Diagnostics;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;

namespace Blueback.Backup;

/// <summary>One backup into a repository: the chain link checked, images, then logs, the manifest committed, and
/// only then truncation and the end of the session. Any failure or cancel before the commit removes the partial
/// set and aborts the session (bounded); nothing short of a committed manifest is left looking like a set.</summary>
public static class BackupJob
{
    public static async Task<BackupResult> RunAsync(BluebackClient client, BackupRepository repo, BackupRequest request, IProgress<BackupProgress>? progress, CancellationToken ct)
    {
        var (instance, type) = (request.Instance, request.Type);
        var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        var parent = ChainResolver.ParentForNew(sets, instance, type);
        if (!type.IncludesDatabases() && parent is null)
        {
            throw new BackupRefusedByRepositoryException($"the repository has no full backup of instance '{instance}' to base {(type.Name()[0] is 'i' ? "an" : "a")} {type.Name()} backup on; take a full backup into it first.");
        }
        if (request.ChangedPages && type.IncludesDatabases())
        {
            throw new ArgumentException($"A {type.Name()} backup copies every page already; changed pages apply to incremental and differential backups.", nameof(request));
        }
        if (request.SkipUnchanged && (type != BackupType.Full || !request.CompressOnServer))
        {
            throw new ArgumentException($"Skipping unchanged pages applies to a full backup whose chunks the server cuts (not a {type.Name()} backup, nor chunks compressed by the program).", nameof(request));
        }
        // Changed pages are listed against the nearest set of the chain that holds pages: the one a restore lays them over.
        var pageBase = request.ChangedPages && parent is not null ? ChainResolver.PageBase(parent, sets) : null;
        var readInFull = new List<string>();
        var unchangedBase = request.SkipUnchanged ? UnchangedBase.Choose(sets, instance) : null;
        if (request.SkipUnchanged && unchangedBase is null)
        {
            readInFull.Add($"the repository holds no full set of instance '{instance}' to name unchanged pages from");
        }
        else if (unchangedBase is not null && request.ReadAllAfter is { } every && UnchangedBase.ReadAllDue(sets, instance, every, DateTime.UtcNow) is { } due)
        {
            readInFull.Add(due);
            unchangedBase = null;
        }
        var sw = Stopwatch.StartNew();
        BackupSetWriter? writer = null;
        BackupSession session;
        try
        {
            session = await client.BeginBackupAsync(instance, new BeginBackupRequest { Type = type.Name(), ChangedSince = pageBase?.GenLow ?? unchangedBase?.GenLow, Digest = request.Digest }, ct).ConfigureAwait(false);
        }
        catch (BluebackApiException ex) when (unchangedBase is not null && ex.Status == System.Net.HttpStatusCode.Conflict && ex.Message.Contains("changed pages apply to incremental", StringComparison.Ordinal))
        {
            // A server older than --skip-unchanged refuses a full with a page base: a full that reads every page, said.
            readInFull.Add("the server cannot pass over unchanged pages (a version before it could): update it");
            unchangedBase = null;
            session = await client.BeginBackupAsync(instance, new BeginBackupRequest { Type = type.Name(), Digest = request.Digest }, ct).ConfigureAwait(false);
        }
        session.AbortBound = request.AbortBound;
        try
        {
            // Before a byte is written: a set that would not join its parent is refused now, not found by verify
            // after the server has truncated the logs that would have closed the gap.
            if (parent is not null && ChainResolver.LinkProblem(parent, session.Id, session.Info.Instance, session.Info.LogSignature, session.Info.GenLow, session.Info.ChangedSince, sets) is { } broken)
            {
                throw new BackupRefusedByRepositoryException($"{broken}. The {type.Name()} backup was not taken and no log was truncated; take a full backup into this repository.");
            }
            // Format 2: chunks the committed sets hold are named, not written again.
            writer = repo.BeginSet(session.Id, request.Codec, knownChunks: BackupRepository.KnownChunks(sets));
            // Where the server can, it cuts, hashes and compresses the chunks, and leaves out those the repository holds.
            var wire = request.CompressOnServer ? ServerChunks.CodecFor(repo.Format, writer.CodecName, session.Info.WireCodecs) : null;
            var chunks = wire is null ? null : new ServerChunks(session, writer, wire, request.Streams);
            if (unchangedBase is not null && UnchangedBaseProblem(unchangedBase, session, chunks) is { } problem)
            {
                readInFull.Add(problem);
                unchangedBase = null;
            }
            if (chunks is not null && BackupRepository.KnownContentHashes(sets, instance, repo.Keys is not null, BackupRequest.MaxKnownChunks) is { Length: > 0 } held)
            {
                await session.SendKnownChunksAsync(held, ct).ConfigureAwait(false);
            }
            // What the set will hold, as far as it is known: every image's size from the start, the logs' once listed.
            var images = type.IncludesDatabases() || pageBase is not null ? session.Databases : [];
            // A changed-pages set holds each database's changed pages, or its whole image where they cannot be used (said).
            var wholeImages = new List<string>();
            var readPages = new HashSet<string>(StringComparer.Ordinal);
            foreach (var db in images.Where(_ => pageBase is not null))
            {
                if (WholeImageReason(db, pageBase!) is { } why)
                {
                    wholeImages.Add(why);
                }
                else
                {
                    readPages.Add(db.Name);
                }
            }
            Dictionary<long, (int RawSize, byte[] Hash)>? UnchangedChunks(BackupDatabaseInfo db)
            {
                if (unchangedBase is null)
                {
                    return null;
                }
                var from = UnchangedBase.ChunksOf(unchangedBase, db, repo.Keys is not null, out var why);
                if (why is not null)
                {
                    readInFull.Add(why);
                }
                return from;
            }
            long known = images.Sum(d => readPages.Contains(d.Name) ? d.ChangedPagesSize!.Value : d.ImageSize), before = 0;
            foreach (var db in images)
            {
                bool pages = readPages.Contains(db.Name);
                long length = pages ? db.ChangedPagesSize!.Value : db.ImageSize;
                // The two header pages (and a changed-pages image's map) and the trailer page change at every backup: cut
                // apart from the pages.
                long[] cuts = db.PageSize <= 0 ? [] : pages
                    ? [2L * db.PageSize, (2L + ChangedPagesImage.MapPages(db.ChangedPages!.Value, db.PageSize)) * db.PageSize, length - db.PageSize]
                    : [2L * db.PageSize, length - db.PageSize];
                var path = pages ? SetLayout.ChangedPagesPath(db.Name) : SetLayout.DatabasePath(db.Name);
                var report = Reporter(path, length, before, known, logsListed: false, progress);
                if (chunks is not null)
                {
                    await (pages
                        ? chunks.AddStreamAsync(path, length, cuts, c => session.OpenChangedPagesChunksAsync(db.Name, writer.ChunkSize, cuts, wire!, c), report, ct)
                        : chunks.AddImageAsync(path, db.Name, length, cuts, report, ct, UnchangedChunks(db))).ConfigureAwait(false);
                }
                else
                {
                    await using var image = pages
                        ? await session.OpenChangedPagesAsync(db.Name, ct).ConfigureAwait(false)
                        : request.Streams > 1 && db.ImageSize > BackupRequest.PartSize && BackupRequest.PartSize % db.PageSize == 0
                            ? (Stream)new ParallelImageStream(session, db.Name, db.ImageSize, BackupRequest.PartSize, request.Streams)
                            : await session.OpenDatabaseImageAsync(db.Name, ct).ConfigureAwait(false);
                    await writer.AddFileAsync(path, image, report, ct, cuts).ConfigureAwait(false);
                }
                before += length;
            }
            var logs = await session.ListLogsAsync(ct).ConfigureAwait(false);
            known = before + logs.Generations.Sum(g => g.Size);
            foreach (var g in logs.Generations)
            {
                var path = SetLayout.LogPath(g.Generation);
                var report = Reporter(path, g.Size, before, known, logsListed: true, progress);
                if (chunks is not null)
                {
                    await chunks.AddStreamAsync(path, g.Size, [], c => session.OpenLogChunksAsync(g.Generation, writer.ChunkSize, wire!, c), report, ct).ConfigureAwait(false);
                }
                else
                {
                    await using var log = await session.OpenLogAsync(g.Generation, ct).ConfigureAwait(false);
                    await writer.AddFileAsync(path, log, report, ct).ConfigureAwait(false);
                }
                before += g.Size;
            }
            var digests = request.Digest ? await session.GetDigestAsync(ct).ConfigureAwait(false) : null;
            var ended = (await session.RefreshAsync(ct).ConfigureAwait(false)).ServerTime;
            var manifest = SetManifest.Build(session, type, parent, client.Server, logs, ended, writer);
            manifest.UnchangedFrom = chunks?.UnreadBytes > 0 ? unchangedBase!.SetId : null;
            manifest.TableDigests = digests?.Select(d => new ManifestTableDigest { Database = d.Database, Table = d.Table, Rows = d.Rows, Sha256 = d.Sha256 }).ToList();
            if (pageBase is not null)
            {
                manifest.ChangedSince = pageBase.GenLow;
                manifest.WholeImages = wholeImages.Count == 0 ? null : wholeImages;
            }
            IReadOnlyList<uint> truncated;
            try
            {
                await writer.CommitAsync(manifest, ct).ConfigureAwait(false);
                if (request.AfterCommit is { } hook)
                {
                    await hook(ct).ConfigureAwait(false);
                }
                // The set is durable: only now may the server delete the logs it holds.
                truncated = type.Truncates() ? await session.TruncateAsync(ct).ConfigureAwait(false) : [];
                await session.EndAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (writer.Committed && ct.IsCancellationRequested)
            {
                // A stop that came after the commit does not undo the set: the caller is told it exists (the soak
                // saw a cancelled call leave a listed set with nothing saying so).
                throw new BackupStoppedAfterCommitException(writer.SetId, ct);
            }
            catch (Exception ex) when (writer.Committed && ex is not (OperationCanceledException or OutOfMemoryException))
            {
                // The same for a failure after the commit: the set exists, and the caller must not be told otherwise.
                throw new BackupFailedAfterCommitException(writer.SetId, ex);
            }
            return new BackupResult(session.Id, parent?.SetId, writer.RawBytes, writer.StoredBytes, writer.CodecName, sw.Elapsed.TotalSeconds, manifest.GenLow, manifest.GenHigh, truncated, writer.ReusedBytes)
            {
                ChangedSince = manifest.ChangedSince,
                ChainHead = writer.ChainHead?.ToString(),
                WholeImages = wholeImages,
                UnreadBytes = chunks?.UnreadBytes ?? 0,
                UnchangedFrom = manifest.UnchangedFrom,
                ReadInFull = readInFull,
                WireBytes = chunks?.WireBytes ?? writer.RawBytes,
                CompressedOnServer = chunks is not null,
            };
        }
        catch
        {
            // The partial set's removal and the session's abort at once: neither waits for the other, so a Ctrl+C
            // returns after the slower of the two (each bounded), not after both.
            var abort = session.DisposeAsync().AsTask();
            if (writer is not null)
            {
                await writer.AbandonAsync(TimeSpan.FromMilliseconds(700)).ConfigureAwait(false);
            }
            await abort.ConfigureAwait(false);
            throw;
        }
        finally
        {
            await session.DisposeAsync().ConfigureAwait(false); // aborts within its bound unless the backup ended
        }
    }

    /// <summary>Why a full cannot name unchanged pages from <paramref name="unchangedBase"/> at all: null when it can.</summary>
    private static string? UnchangedBaseProblem(Manifest unchangedBase, BackupSession session, ServerChunks? chunks)
    {
        if (chunks is null)
        {
            return "the server cannot cut the chunks for this repository (it offers no chunk frames, or the repository's format or codec does not take them)";
        }
        // Generations of another log stream (the instance restored or made anew since) say nothing about these pages.
        return string.Equals(unchangedBase.LogSignature, session.Info.LogSignature, StringComparison.Ordinal)
            ? null
            : $"set {unchangedBase.SetId} is of log stream {unchangedBase.LogSignature}, the instance now of {session.Info.LogSignature} (restored or made anew since)";
    }

    /// <summary>Why a changed-pages set must hold this database whole: the server cannot say which pages changed (its
    /// reason), or the page base does not hold this database (attached since, or another database under its name).</summary>
    private static string? WholeImageReason(BackupDatabaseInfo db, Manifest pageBase)
    {
        if (db.ChangedPages is null)
        {
            return $"database '{db.Name}': {db.ChangedPagesProblem ?? "the server sent no page map"}";
        }
        return pageBase.Databases.Any(d => d.Name == db.Name && d.Signature == db.Signature)
            ? null
            : $"database '{db.Name}' is not in the page base set {pageBase.SetId} (attached after it, or another database by that name)";
    }

    private static Action<long> Reporter(string path, long size, long before, long known, bool logsListed, IProgress<BackupProgress>? progress) =>
        done => progress?.Report(new BackupProgress(path, done, size, before + done, known, logsListed));
}
