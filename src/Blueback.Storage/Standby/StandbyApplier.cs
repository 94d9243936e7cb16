using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Recovery;
using Blueback.Storage.Restore;

namespace Blueback.Storage.Standby;

/// <summary>What one apply did.</summary>
/// <param name="HeldCommit">When a stop point held transactions back: the commit time of the first one left out.</param>
public sealed record StandbyApplyReport(Lsn End, uint AppliedThrough, long Transactions, DateTime? LastCommit, double Seconds, DateTime? HeldCommit = null);

/// <summary>A warm standby's engine (docs/standby.md): the restored full set checked as hard recovery checks it,
/// then the primary's generations replayed as they arrive, into database files that stay a backup's images (the
/// restore record stays unfinished, so nothing opens them as a primary by mistake), and at promotion a new log
/// stream: the old primary's logs can never be replayed into it.</summary>
public static class StandbyApplier
{
    private const long ReplayMemory = 256L << 20;

    /// <summary>Takes a restored directory (its restore record written, its files in place) as a standby: checks the
    /// logs and images, and records where replay starts.</summary>
    public static StandbyState Initialize(string instanceDirectory, string repository, CancellationToken ct)
    {
        var dir = Path.GetFullPath(instanceDirectory);
        var record = RestoreRecord.Read(dir) ?? throw new StandbyException($"'{dir}' has no restore record: nothing was restored there to follow from.");
        var logDir = Path.Combine(dir, StorageInstance.LogDirectoryName);
        using (InstanceLock.Acquire(dir))
        {
            HardRecovery.CheckLogRange(logDir, record, null, ct);
            foreach (var db in record.Databases.Where(d => !d.TrailerChecked))
            {
                ct.ThrowIfCancellationRequested();
                HardRecovery.CheckImage(dir, record, db);
                record.Write(dir);
                HardRecovery.ClearTrailer(dir, record, db);
            }
        }
        var redo = record.Databases.Select(d => Lsn.FromValue(d.RedoLsn)).Where(l => l != Lsn.Zero).DefaultIfEmpty(new Lsn(record.GenLow, LogFileHeader.RegionSize)).Min();
        if (redo.Generation < record.GenLow)
        {
            redo = new Lsn(record.GenLow, LogFileHeader.RegionSize);
        }
        var state = new StandbyState { Repository = repository, SourceInstance = record.SourceInstance, Restart = redo.Value, End = redo.Value, AppliedThrough = record.GenLow - 1 };
        state.Write(dir);
        return state;
    }

    /// <summary>Replays every generation present after where the standby stands, from <paramref name="from"/> (the
    /// end of the last apply in this process) or, after a restart, from the persisted restart point, and records
    /// the new position. The pages are written (the read view sees them); when <paramref name="durable"/>, they are
    /// also flushed to disk and the restart point moves up, and generations no replay will need again are deleted.
    /// Between durable applies a crash costs only a longer replay on the next start. With <paramref name="stop"/> (a
    /// lagged standby), replay ends before the first commit after it, record by record, even inside a generation;
    /// the restored set's own log range is replayed whole regardless, as its images need it.</summary>
    public static StandbyApplyReport Apply(string instanceDirectory, Lsn? from, CancellationToken ct, bool durable = true, RecoveryStop? stop = null)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var dir = Path.GetFullPath(instanceDirectory);
        var record = RestoreRecord.Read(dir) ?? throw new StandbyException($"'{dir}' has no restore record: it is not a standby.");
        var state = StandbyState.Read(dir) ?? throw new StandbyException($"'{dir}' has no standby state ({StandbyState.FileName}): it is not a standby.");
        if (state.Promoted is not null)
        {
            throw new StandbyException($"'{dir}' was promoted at {state.Promoted:O}: it is a primary now and applies no more shipped logs.");
        }
        var logDir = Path.Combine(dir, StorageInstance.LogDirectoryName);
        var start = from ?? Lsn.FromValue(state.Restart);
        using var directoryLock = InstanceLock.Acquire(dir);
        var files = new List<(ushort, DatabaseFile, Signature)>();
        try
        {
            foreach (var d in record.Databases)
            {
                files.Add((d.Id, DatabaseFile.Open(Path.Combine(dir, d.Path)), d.Signature));
            }
            var replayer = new LogReplayer(logDir, record.LogSignature, files, (id, sig, path) => throw new StandbyException(
                $"The primary attached database {id} ('{path}', signature {sig}) after the standby's full set was taken: a standby cannot follow that. Take a full backup of the primary and start the standby again."),
                ReplayMemory)
            {
                Limits = new ReplayLimits(stop?.Lsn, stop?.Time, null, state.AppliedThrough, false, ct) { StopNotThrough = record.ConsistentAfter == 0 ? record.GenHigh : record.ConsistentAfter },
                SyncOnFlush = false,
            };
            replayer.Replay(start);
            // Resume where no transaction is open: a transaction split by the primary's early close of a generation
            // has its commit in a generation not here yet, and must be replayed whole next time.
            var end = replayer.SafeEnd;
            if (durable)
            {
                foreach (var (_, f, _) in files)
                {
                    f.Sync(); // the restart point below moves only once every page before it is durable
                }
            }
            var gens = LogFiles.List(logDir);
            // A generation cut by the stop point is not applied yet: the rest of it waits.
            bool cut = replayer.StopReached && end.Offset != LogFileHeader.RegionSize;
            uint applied = gens.Count == 0 ? state.AppliedThrough : Math.Max(state.AppliedThrough, gens.Where(g => g < end.Generation || (!cut && g == end.Generation && end.Offset != LogFileHeader.RegionSize)).DefaultIfEmpty(state.AppliedThrough).Max());
            // After a crash, replay restarts at the primary's checkpoint named by the newest generation applied (every
            // page changed after it has a whole image after it: a page torn by the crash is rewritten), never past
            // where this apply started.
            var restart = Lsn.FromValue(state.Restart);
            if (durable && gens.Contains(applied))
            {
                var checkpoint = Lsn.FromValue(LogFiles.ReadHeader(logDir, applied).Header.CheckpointLsn);
                var candidate = checkpoint < start ? checkpoint : start;
                if (candidate > restart && gens.Contains(candidate.Generation))
                {
                    restart = candidate;
                }
            }
            state.Restart = restart.Value;
            state.End = end.Value;
            state.AppliedThrough = applied;
            state.TransactionsApplied += replayer.TransactionsReplayed;
            if (replayer.TransactionsReplayed > 0)
            {
                state.LastCommit = replayer.LastCommitTime;
            }
            state.LastApplied = DateTime.UtcNow;
            state.Write(dir);
            foreach (var g in gens.Where(g => g < restart.Generation))
            {
                File.Delete(LogFiles.PathOf(logDir, g));
            }
            return new StandbyApplyReport(end, applied, replayer.TransactionsReplayed, state.LastCommit, sw.Elapsed.TotalSeconds, replayer.StopReached ? replayer.HeldCommitTime : null);
        }
        finally
        {
            foreach (var (_, f, _) in files)
            {
                f.Dispose();
            }
        }
    }

    /// <summary>Ends following: the applied log is cut at its end, the old primary's generations are moved aside,
    /// and the databases and a fresh checkpoint start a NEW log stream, so that no log of the old primary can be
    /// replayed into the instance, nor its logs into the old primary's chain. Afterwards the directory opens as an
    /// ordinary instance.</summary>
    public static Signature Promote(string instanceDirectory)
    {
        var dir = Path.GetFullPath(instanceDirectory);
        var record = RestoreRecord.Read(dir) ?? throw new StandbyException($"'{dir}' has no restore record: it is not a standby.");
        var state = StandbyState.Read(dir) ?? throw new StandbyException($"'{dir}' has no standby state: it is not a standby.");
        if (state.Promoted is not null)
        {
            throw new StandbyException($"'{dir}' was already promoted at {state.Promoted:O}.");
        }
        var logDir = Path.Combine(dir, StorageInstance.LogDirectoryName);
        var end = Lsn.FromValue(state.End);
        var next = end.Offset == LogFileHeader.RegionSize ? end.Generation : end.Generation + 1;
        var newSignature = Signature.New();
        using (InstanceLock.Acquire(dir))
        {
            var aside = FileSystem.CreateAsideDirectory(dir, $"logs-of-old-primary-{record.LogSignatureId:N}-");
            foreach (var g in LogFiles.List(logDir))
            {
                File.Move(LogFiles.PathOf(logDir, g), LogFiles.PathOf(aside, g), overwrite: true);
            }
            FileSystem.SyncDirectory(aside);
            FileSystem.SyncDirectory(logDir);
            var attached = new List<AttachedDatabase>();
            foreach (var d in record.Databases)
            {
                using var file = DatabaseFile.Open(Path.Combine(dir, d.Path));
                HardRecovery.MarkRecovered(file, newSignature, next);
                attached.Add(new AttachedDatabase(d.Id, d.Signature, d.Path));
            }
            CheckpointFile.Write(Path.Combine(dir, CheckpointFile.FileName), newSignature, new Lsn(next, LogFileHeader.RegionSize), 1, attached);
            state.Promoted = DateTime.UtcNow;
            state.NewLogSignature = newSignature.Id.ToString("N");
            state.OldLogs = aside;
            state.Write(dir);
            record.Status = RestoreStatus.Done;
            record.RecoveryEnded = state.Promoted;
            record.End = end.ToString();
            record.EndReason = "promoted from a warm standby";
            record.LastCommitTime = state.LastCommit;
            record.TransactionsReplayed = state.TransactionsApplied;
            record.Write(dir);
        }
        return newSignature;
    }

    /// <summary>Puts a generation fetched from the repository into the standby's log directory, whole or not at all
    /// (temporary name, flush, rename).</summary>
    public static void AddGeneration(string instanceDirectory, uint generation, ReadOnlySpan<byte> bytes)
    {
        var logDir = Path.Combine(Path.GetFullPath(instanceDirectory), StorageInstance.LogDirectoryName);
        FileSystem.WriteAtomic(LogFiles.PathOf(logDir, generation), bytes, ".part");
    }
}
