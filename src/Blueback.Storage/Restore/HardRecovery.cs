using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Recovery;

namespace Blueback.Storage.Restore;

/// <summary>What hard recovery did.</summary>
public sealed record HardRecoveryReport(Lsn From, Lsn End, long TransactionsReplayed, long PagesApplied, bool StopReached, string? EndReason, DateTime? LastCommitTime, string? SetAside);

/// <summary>Hard recovery of a restored instance directory (the original's JetExternalRestore and eseutil /cc):
/// checks the restored log range and every database image against its trailer, builds a fresh checkpoint at the
/// images' redo point, replays the set's logs and optionally plays forward through later generations found in the
/// log directory, stopping at the end, at a log position or at a time, and leaves an instance that opens cleanly.
/// Everything it needs is in the directory's restore record, so an interrupted run is simply run again: replay is
/// idempotent, and every page it touches has a whole image in the log after the redo point.</summary>
public static class HardRecovery
{
    public static HardRecoveryReport Run(string instanceDirectory, InstanceOptions? options = null, Action<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var dir = Path.GetFullPath(instanceDirectory);
        var record = RestoreRecord.Read(dir)
            ?? throw new RestoreException($"'{dir}' has no restore record ({RestoreRecord.FileName}): nothing was restored there, so there is nothing for hard recovery to do. Restore with 'blueback restore' first.");
        if (record.Status == RestoreStatus.Done)
        {
            throw new RestoreException($"The restore into '{dir}' is already recovered (ended {record.RecoveryEnded:O} at {record.End}). Open the instance; to recover again, restore again.");
        }
        record.Status = RestoreStatus.Running;
        record.Error = null;
        record.RecoveryStarted = DateTime.UtcNow;
        record.Write(dir);
        try
        {
            HardRecoveryReport report;
            using (InstanceLock.Acquire(dir))
            {
                report = RunCore(dir, record, options?.PageStores, progress, cancellationToken);
            }
            // Opening once runs the ordinary checks and leaves the instance shut down cleanly.
            StorageInstance.Open(dir, options, restoring: true).Dispose();
            record.Status = RestoreStatus.Done;
            record.RecoveryEnded = DateTime.UtcNow;
            record.End = report.End.ToString();
            record.EndReason = report.EndReason;
            record.LastCommitTime = report.LastCommitTime;
            record.TransactionsReplayed = report.TransactionsReplayed;
            record.SetAside = report.SetAside;
            record.Write(dir);
            return report;
        }
        catch (Exception ex)
        {
            record.Status = RestoreStatus.Failed;
            record.Error = ex is OperationCanceledException ? "stopped by the operator before recovery finished" : ex.Message;
            record.Write(dir);
            throw;
        }
    }

    private static HardRecoveryReport RunCore(string dir, RestoreRecord record, IPageStores? stores, Action<string>? progress, CancellationToken token)
    {
        var logDir = Path.Combine(dir, StorageInstance.LogDirectoryName);
        var stop = record.Stop is null ? null : RecoveryStop.Parse(record.Stop);
        progress?.Invoke($"checking log generations {record.GenLow} to {record.GenHigh}");
        CheckLogRange(logDir, record, stop, token);
        foreach (var db in record.Databases.Where(d => !d.TrailerChecked))
        {
            token.ThrowIfCancellationRequested();
            CheckImage(dir, record, db, stores);
            record.Write(dir); // the trailer's facts are kept before the trailer page is cleared
            ClearTrailer(dir, record, db, stores);
        }

        var redo = record.Databases.Select(d => Lsn.FromValue(d.RedoLsn)).Where(l => l != Lsn.Zero).DefaultIfEmpty(new Lsn(record.GenLow, LogFileHeader.RegionSize)).Min();
        if (redo.Generation < record.GenLow)
        {
            redo = new Lsn(record.GenLow, LogFileHeader.RegionSize);
        }
        var checkpointPath = Path.Combine(dir, CheckpointFile.FileName);
        File.Delete(checkpointPath);
        var attached = record.Databases.Select(d => new AttachedDatabase(d.Id, d.Signature, d.Path)).ToList();

        var files = new List<(ushort, DatabaseFile, Signature)>();
        try
        {
            foreach (var d in record.Databases)
            {
                files.Add((d.Id, DatabaseFile.Open(Path.Combine(dir, d.Path), stores: stores), d.Signature));
            }
            progress?.Invoke($"replaying from {redo}{(record.PlayForward ? ", then playing forward" : "")}{(stop is null ? "" : $", stopping at {stop}")}");
            var limits = new ReplayLimits(stop?.Lsn, stop?.Time, record.PlayForward ? null : record.GenHigh, record.GenHigh, record.UpToContiguous, token);
            var replayer = new LogReplayer(logDir, record.LogSignature, files, (id, sig, path) => throw new RestoreException(
                $"The log attaches database {id} ('{path}', signature {sig}) after the backup was taken; it is not in the restored set, so its changes cannot be replayed. Stop before it with --stop-at, or take a new full backup that includes it."),
                256L << 20) { Limits = limits };
            var end = replayer.Replay(redo);
            if (end < new Lsn(record.GenHigh + 1, LogFileHeader.RegionSize) && !replayer.StopReached)
            {
                throw new LogCorruptException($"Replay ended at {end}, before the end of generation {record.GenHigh}, the last one the restored sets hold: the databases would not be consistent. Restore the set again.", end.Generation);
            }
            string? setAside = SetAsideLaterLogs(dir, logDir, end, replayer.StopReached);
            if (end.Offset != LogFileHeader.RegionSize)
            {
                LogFiles.EndGenerationAt(logDir, end);
            }
            var checkpoint = end.Offset == LogFileHeader.RegionSize ? end : new Lsn(end.Generation + 1, LogFileHeader.RegionSize);
            foreach (var (_, file, _) in files)
            {
                MarkRecovered(file, record.LogSignature, checkpoint.Generation);
            }
            attached.RemoveAll(a => replayer.AttachChanges.TryGetValue(a.Id, out var change) && change is null);
            CheckpointFile.Write(checkpointPath, record.LogSignature, checkpoint, 1, attached);
            return new HardRecoveryReport(redo, end, replayer.TransactionsReplayed, replayer.RecordsApplied, replayer.StopReached, replayer.EndReason,
                replayer.TransactionsReplayed > 0 ? replayer.LastCommitTime : null, setAside);
        }
        finally
        {
            foreach (var (_, f, _) in files)
            {
                f.Dispose();
            }
        }
    }

    /// <summary>Every generation of the restored range is present, of this log stream, contiguous by creation
    /// times, and whole; a stop point inside the range is refused before anything is written.</summary>
    internal static void CheckLogRange(string logDir, RestoreRecord record, RecoveryStop? stop, CancellationToken token)
    {
        uint consistent = record.ConsistentAfter == 0 ? record.GenHigh : record.ConsistentAfter;
        var setEnd = new Lsn(consistent + 1, LogFileHeader.RegionSize);
        if (stop?.Lsn is { } stopLsn && stopLsn < setEnd)
        {
            throw new RestoreException($"The stop point {stopLsn} is before the end of the restored full set (its last generation, {consistent}, ends at {setEnd}): the database images are only consistent after their whole log range. Choose an earlier set, or a stop point at or after {setEnd}.");
        }
        long previousCreated = 0;
        for (uint g = record.GenLow; g <= record.GenHigh; g++)
        {
            token.ThrowIfCancellationRequested();
            if (!File.Exists(LogFiles.PathOf(logDir, g)))
            {
                throw new LogCorruptException($"Log generation {g} is missing from '{logDir}'; the restored sets need every generation from {record.GenLow} to {record.GenHigh}. Restore it from the set that holds it (run 'blueback verify' on the repository).", g);
            }
            var reader = LogGenerationReader.Open(logDir, g);
            var h = reader.Header;
            if (h.LogSignature != record.LogSignature)
            {
                throw new LogCorruptException($"Log generation {g} ('{reader.Path}') belongs to another log stream ({h.LogSignature}); the restored sets are of stream {record.LogSignature}. It came from another instance: remove it and restore the right one.", g);
            }
            if (g > record.GenLow && h.PreviousCreatedTicks != previousCreated)
            {
                throw new LogCorruptException($"Log generation {g} ('{reader.Path}') does not follow generation {g - 1} (it names a predecessor created {new DateTime(h.PreviousCreatedTicks, DateTimeKind.Utc):O}, but {g - 1} was created {new DateTime(previousCreated, DateTimeKind.Utc):O}): the restored logs are not contiguous.", g);
            }
            previousCreated = h.CreatedTicks;
            while (reader.TryRead(out var rec))
            {
                if (g <= consistent && stop?.Time is { } t && rec.Type == LogRecordType.Commit && LogReplayer.CommitTime(rec) > t)
                {
                    throw new RestoreException($"The stop time {t:O} is before the end of the restored full set: generation {g} holds a commit at {LogReplayer.CommitTime(rec):O} ({rec.End}), and the database images are only consistent after generation {consistent}. Choose an earlier set, or a later stop time.");
                }
            }
            if (reader.End != LogEnd.GenerationEnd)
            {
                throw new LogCorruptException($"Log generation {g} ('{reader.Path}') is not whole: it ends at offset {reader.EndPosition.Offset} without its end record. A backed-up generation is always closed; restore it again from the set.", g, reader.EndPosition.Offset);
            }
        }
    }

    /// <summary>The image must come from a backup (ESE's -615), match its trailer (signatures), and need no log
    /// outside the restored range (ESE's -554 and -553).</summary>
    internal static void CheckImage(string dir, RestoreRecord record, RestoredDatabase db, IPageStores? stores = null)
    {
        var path = Path.Combine(dir, db.Path);
        if (!DatabaseFile.Exists(path, stores))
        {
            throw new RestoreException($"Restored database '{path}' is missing. Restore again.");
        }
        using var file = DatabaseFile.Open(path, stores: stores);
        var h = file.ReadHeader();
        if (h.CurrentBackup.GenLow == 0 || h.CurrentBackup.GenHigh != 0)
        {
            throw new RestoreException($"'{path}' is not a database image from a backup (its header holds no backup in progress). Hard recovery applies only to restored images; a live database recovers by itself when its instance opens.");
        }
        if (h.DatabaseSignature != db.Signature)
        {
            throw new RestoreException($"'{path}' is database {h.DatabaseSignature}, but the restore expects '{db.Name}' {db.Signature}: it is from another instance or another database. Restore the right set.");
        }
        long length = file.Length;
        if (length < 3L * file.PageSize || length % file.PageSize != 0)
        {
            throw new RestoreException($"'{path}' is {length} bytes, not a whole database image (page size {file.PageSize}). Restore it again.");
        }
        uint trailerPage = (uint)(length / file.PageSize) - 1;
        var page = new byte[file.PageSize];
        file.ReadRaw(trailerPage, page);
        var t = MemoryMarshal.Read<BackupTrailer>(page);
        if (t.Magic != BackupTrailer.MagicValue || !Checksum.VerifyPage(page, trailerPage) || t.PageCount != trailerPage)
        {
            throw new RestoreException($"'{path}' has no valid backup trailer on its last page ({trailerPage}): the image is truncated or damaged. Restore it again from a set that 'blueback verify' passes.");
        }
        if (t.DatabaseSignature != h.DatabaseSignature || t.LogSignature != record.LogSignature || t.DatabaseId != db.Id)
        {
            throw new RestoreException($"'{path}': the trailer names database {t.DatabaseSignature} (id {t.DatabaseId}) of log stream {t.LogSignature}, but the header and the restored logs say {h.DatabaseSignature} (id {db.Id}) of {record.LogSignature}. The image was assembled from different backups.");
        }
        if (t.GenLow < record.GenLow)
        {
            throw new RestoreException($"'{path}' needs log generations from {t.GenLow}, but the restored logs start at {record.GenLow} (the starting log is too high). Restore the set's first generations.");
        }
        // The trailer names the generation current when the image ended; if the set's logs stop just before it,
        // nothing had been written in it by the time the logs were listed (listing switches away from any
        // generation that holds a record).
        if (t.GenHigh > record.GenHigh + 1)
        {
            throw new RestoreException($"'{path}' needs log generations up to {t.GenHigh}, but the restored logs end at {record.GenHigh} (the ending log is too low). Restore the set's last generations.");
        }
        db.ImageGenLow = t.GenLow;
        db.ImageGenHigh = t.GenHigh;
        db.RedoLsn = t.RedoLsn;
        db.PageCount = t.PageCount;
        db.TrailerChecked = true;
    }

    /// <summary>Clears the trailer page and marks the database restored-awaiting-recovery, so that nothing but
    /// hard recovery opens it until recovery ends.</summary>
    internal static void ClearTrailer(string dir, RestoreRecord record, RestoredDatabase db, IPageStores? stores = null)
    {
        using var file = DatabaseFile.Open(Path.Combine(dir, db.Path), stores: stores);
        file.WriteRaw((uint)db.PageCount, new byte[file.PageSize]);
        var h = file.ReadHeader();
        h.State = DatabaseState.RestoredAwaitingRecovery;
        h.GenMaxRequired = record.GenHigh;
        file.WriteHeader(ref h);
        file.Sync();
    }

    /// <summary>After replay: the database belongs to the recovered log stream, is no longer a backup image, and
    /// has no backup base (the next backup of a restored instance must be a full one: its earlier sets end before
    /// a history that may now differ).</summary>
    internal static void MarkRecovered(DatabaseFile file, Signature logSignature, uint generation)
    {
        var h = file.ReadHeader();
        h.State = DatabaseState.Dirty;
        h.LogSignature = logSignature;
        h.GenMinRequired = generation;
        h.GenMaxRequired = generation;
        h.CurrentBackup = default;
        h.LastFull = default;
        h.LastIncremental = default;
        h.LastDifferential = default;
        file.WriteHeader(ref h);
        file.Sync();
    }

    /// <summary>Generations after where replay ended are moved (not deleted) into a folder beside the logs; when
    /// replay stopped inside a generation, a copy of it is kept there too, before its tail is cut off. The page summaries
    /// of those generations go too: the new history reuses their numbers with other changes, and a summary kept from the
    /// old one would hide pages it changed from a changed-pages set or a full that skips unchanged pages.</summary>
    private static string? SetAsideLaterLogs(string dir, string logDir, Lsn end, bool stoppedInside)
    {
        var later = LogFiles.List(logDir).Where(g => g > end.Generation || (g == end.Generation && end.Offset == LogFileHeader.RegionSize)).ToList();
        bool cutInside = stoppedInside && end.Offset != LogFileHeader.RegionSize;
        ChangedPages.PageSummaries.RemoveFrom(logDir, end.Generation);
        if (later.Count == 0 && !cutInside)
        {
            return null;
        }
        var aside = FileSystem.CreateAsideDirectory(dir, "logs-not-replayed-");
        if (cutInside)
        {
            File.Copy(LogFiles.PathOf(logDir, end.Generation), LogFiles.PathOf(aside, end.Generation), overwrite: true);
        }
        foreach (var g in later)
        {
            File.Move(LogFiles.PathOf(logDir, g), LogFiles.PathOf(aside, g), overwrite: true);
        }
        FileSystem.SyncDirectory(aside);
        FileSystem.SyncDirectory(logDir);
        return aside;
    }
}
