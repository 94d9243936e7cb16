using Blueback.Storage.BTree;
using Blueback.Storage.ChangedPages;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Transactions;

namespace Blueback.Storage.Backup;

/// <summary>Online backup, the engine's side at the instance: begins a backup (refusing it with the reason), keeps
/// the one running, forces a log generation closed for its log range, records a backup in the logs and the headers,
/// and deletes the generations a backup holds. The instance's backup calls come here; what it needs of the instance
/// is <see cref="IBackupHost"/>. One backup (<see cref="InstanceBackup"/>) runs per instance at a time.</summary>
internal sealed class OnlineBackups(IBackupHost host)
{
    private readonly Lock _lock = new();
    private InstanceBackup? _running;

    /// <summary>The backup running now, if any.</summary>
    public InstanceBackup? Running => _running;

    /// <summary>Begins an online backup; see <see cref="StorageInstance.BeginBackup"/>.</summary>
    public InstanceBackup Begin(BackupType type, uint? changedSince)
    {
        host.ThrowIfReadOnly("a backup");
        if (changedSince is not null && type == BackupType.Copy)
        {
            throw new BackupRefusedException($"A copy backup copies every page; changed pages apply to full backups (to pass over unchanged pages), incremental and differential backups.");
        }
        if (type == BackupType.Full || changedSince is not null)
        {
            // A set that later changed-pages sets build on starts at a fresh generation and checkpoint (as
            // pg_basebackup's does): its images then hold every change before its first generation, so the next
            // changed-pages set lists only the pages changed since this one began, not since an older checkpoint.
            host.ThrowIfUnusable();
            ForceNewGeneration();
            host.CheckpointCore();
        }
        var backup = BeginLocked(type, changedSince, out uint summarizedBelow);
        if (changedSince is { } since)
        {
            // Outside the writer lock: summaries not built yet are read from the log here, which writers need not wait for.
            try
            {
                var dbs = backup.Databases;
                var lists = host.Summaries is { } summaries
                    ? summaries.ChangedIn(since, summarizedBelow, dbs.Select(d => (d.Signature, d.PageCount)).ToList(), CancellationToken.None)
                    : dbs.ToDictionary(d => d.Signature, _ => new ChangedPageList(null, "this instance keeps no page summaries"));
                var byName = dbs.ToDictionary(d => d.Name, d => lists[d.Signature], StringComparer.Ordinal);
                if (type.IncludesDatabases())
                {
                    foreach (var d in dbs)
                    {
                        // A full names unchanged pages from its base set: that set must be the last full this database
                        // records. Another (a full into another repository, one from a history a restore abandoned, a
                        // file put back from elsewhere) may hold other bytes for pages no summary since lists.
                        var last = host.GetDatabase(d.Name).Header.LastFull;
                        if (last.IsEmpty || last.GenLow != since)
                        {
                            byName[d.Name] = new ChangedPageList(null, last.IsEmpty
                                ? "it records no full backup (restored, or attached, since)"
                                : $"its last full backup began at generation {last.GenLow}, not at generation {since} where the repository's newest full did (a full into another repository since, or a restore)");
                        }
                    }
                }
                backup.SetChangedPages(byName);
            }
            catch
            {
                backup.Abort();
                throw;
            }
        }
        return backup;
    }

    private InstanceBackup BeginLocked(BackupType type, uint? changedSince, out uint summarizedBelow)
    {
        summarizedBelow = 0;
        var log = host.Log;
        // The writer lock, briefly: no attach or detach (and no half-appended transaction) while the set is fixed.
        using var writer = host.HoldWriter();
        lock (_lock)
        {
            if (_running is { } running)
            {
                throw new BackupRefusedException($"A {running.Type.Name()} backup of instance '{host.Name}' is already running (begun {running.Started:O}, id {running.Id:N}). Only one backup per instance runs at a time: end or abort it first.");
            }
            var dbs = host.Databases;
            if (dbs.Count == 0)
            {
                throw new BackupRefusedException($"Instance '{host.Name}' has no attached database to back up.");
            }
            uint genLow;
            var redo = host.CheckpointLsn; // read once: the set's first generation and its redo point must agree
            if (type.IncludesDatabases())
            {
                genLow = redo.Generation;
                if (changedSince is not null)
                {
                    // A full that passes over pages unchanged since its page base: as for a changed-pages set, every
                    // change so far ends up in a closed generation, which the summaries list.
                    summarizedBelow = ForceNewGeneration();
                }
            }
            else if (changedSince is not null)
            {
                foreach (var db in dbs.Where(d => d.Header.LastFull.IsEmpty))
                {
                    throw new BackupRefusedException($"Database '{db.Name}' of instance '{host.Name}' has no full backup recorded; a changed-pages {type.Name()} backup needs one in every database. Take a full backup first.");
                }
                // Pages read from the files hold every change before the checkpoint; the logs from it make them consistent.
                genLow = redo.Generation;
                // Every change so far ends up in a closed generation, so the summaries up to here say which pages changed;
                // what changes after is in the set's logs.
                summarizedBelow = ForceNewGeneration();
            }
            else
            {
                if (host.Options.CircularLogging)
                {
                    throw new BackupRefusedException($"Instance '{host.Name}' uses circular logging: generations below the checkpoint are deleted, so a {type.Name()} backup cannot hold every generation since the last backup. Take a full backup, or turn circular logging off.");
                }
                foreach (var db in dbs.Where(d => d.Header.LastFull.IsEmpty))
                {
                    throw new BackupRefusedException($"Database '{db.Name}' of instance '{host.Name}' has no full backup recorded; a {type.Name()} backup needs one in every database. Take a full backup first.");
                }
                uint prevHigh = dbs.Min(d => type == BackupType.Incremental ? Math.Max(d.Header.LastFull.GenHigh, d.Header.LastIncremental.GenHigh) : d.Header.LastFull.GenHigh);
                genLow = prevHigh + 1;
                // Below the generation the flusher writes now, every file must exist; the ones above it may be in
                // memory only (lazy commits), not missing: the backup's log listing flushes them. That generation is
                // read before the directory is: read after, it could name files the flusher made since the listing.
                uint flushing = log.FileGeneration;
                var onDisk = LogFiles.List(host.LogDirectory).ToHashSet();
                for (uint g = genLow; g < flushing; g++)
                {
                    if (!onDisk.Contains(g))
                    {
                        throw new BackupRefusedException($"Log generation {g} of instance '{host.Name}', written after the previous backup (which ended at generation {prevHigh}), is missing from '{host.LogDirectory}': the log has a gap, so a {type.Name()} backup could not be restored. {(!host.ShippingOn ? "Take a full backup." : "Log shipping deletes what it has shipped: the shipped logs in its repository take the place of incremental backups. Take a full backup for a new base.")}");
                    }
                }
            }
            bool images = type.IncludesDatabases() || changedSince is not null;
            var list = new List<BackupDatabase>();
            foreach (var db in dbs)
            {
                uint pages = images ? SpaceRoot.PageCount(host.Cache.Read(db.Id, FormatConstants.SpaceRootPage, long.MaxValue)) : 0;
                list.Add(new BackupDatabase(db.Name, db.Id, db.PageSize, pages, images ? ((long)pages + 1) * db.PageSize : 0, db.Signature));
            }
            _running = new InstanceBackup(host, this, type, log.AppendPosition, redo, genLow, list, changedSince);
            return _running;
        }
    }

    internal void Finished(InstanceBackup backup)
    {
        lock (_lock)
        {
            if (_running == backup)
            {
                _running = null;
            }
        }
    }

    /// <summary>Ends the current generation (if it holds records) and makes it durable; returns the first
    /// generation that is not complete.</summary>
    internal uint ForceNewGeneration()
    {
        var log = host.Log;
        uint next;
        Lsn end;
        using (log.AppendScope())
        {
            next = log.ForceNewGenerationLocked();
            end = log.AppendPositionLocked;
        }
        log.FlushTo(end, host.Options.WaitTimeout);
        return next;
    }

    /// <summary>As <see cref="ForceNewGeneration()"/>, and a read transaction that sees exactly the commits in the
    /// generations it closes: fixed under the append lock, so no commit falls between the two.</summary>
    internal uint ForceNewGeneration(out ReadTransaction atEnd)
    {
        var log = host.Log;
        uint next;
        Lsn end;
        using (log.AppendScope())
        {
            next = log.ForceNewGenerationLocked();
            end = log.AppendPositionLocked;
            atEnd = host.ReadAtAppendPositionLocked();
        }
        try
        {
            log.FlushTo(end, host.Options.WaitTimeout);
        }
        catch
        {
            atEnd.Dispose();
            throw;
        }
        return next;
    }

    /// <summary>Truncation after a backup: a checkpoint first (so that as much as possible is below it), then
    /// every generation up to <paramref name="genHigh"/> that is below the checkpoint and not being written.</summary>
    internal List<uint> DeleteBackedUpGenerations(uint genHigh)
    {
        lock (host.CheckpointLock)
        {
            host.CheckpointCore();
            // Generations a shipper has not yet made durable stay, whatever the backup holds.
            uint limit = Math.Min(Math.Min(Math.Min(host.CheckpointLsn.Generation, host.Log.FileGeneration), genHigh + 1), host.ShippingPin());
            return host.DeleteGenerations(limit);
        }
    }

    /// <summary>Logs the backup's record for each database, makes it durable, then writes it into the headers.</summary>
    internal void RecordBackup(BackupType type, BackupInfo info, IReadOnlyList<ushort> databases)
    {
        var log = host.Log;
        var payload = BackupRecord.Payload(type, info);
        Lsn end;
        using (log.AppendScope())
        {
            foreach (var id in databases)
            {
                log.AppendSmall(LogRecordType.BackupRecorded, id, 0, payload);
            }
            end = log.AppendPositionLocked;
        }
        log.FlushTo(end, host.Options.WaitTimeout);
        foreach (var db in host.Databases.Where(d => databases.Contains(d.Id)))
        {
            db.UpdateHeader((ref DatabaseHeader h) => BackupRecord.Apply(ref h, type, info));
        }
    }
}
