using Blueback.Storage.Backup;
using Blueback.Storage.ChangedPages;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Transactions;

namespace Blueback.Storage;

/// <summary>Online backup's calls on the instance, each handed to <see cref="OnlineBackups"/> (Storage/Backup), which
/// owns the running backup and the rules; the instance gives it what it needs as an <see cref="IBackupHost"/>.</summary>
public sealed partial class StorageInstance : IBackupHost
{
    private readonly OnlineBackups _backups;

    /// <summary>The backup running now, if any.</summary>
    public InstanceBackup? RunningBackup => _backups.Running;

    /// <summary>Begins an online backup. Refused, with the reason, when another backup of this instance runs,
    /// when an incremental or differential backup meets circular logging, a database without a full backup, or a
    /// log gap since the previous backup.</summary>
    /// <param name="type">Full, copy, incremental or differential.</param>
    /// <param name="changedSince">A changed-pages incremental or differential: every page changed since the start of
    /// this generation (the base set's first) is sent instead of the logs since the previous backup; the set's logs
    /// start at the checkpoint, as a full's do.</param>
    public InstanceBackup BeginBackup(BackupType type, uint? changedSince = null) => _backups.Begin(type, changedSince);

    LogWriter IBackupHost.Log => _log;
    PageSummaries? IBackupHost.Summaries => _summaries;
    BufferCache IBackupHost.Cache => Cache;
    Lock IBackupHost.CheckpointLock => _checkpointLock;
    void IBackupHost.CheckpointCore() => CheckpointCore();
    IDisposable IBackupHost.HoldWriter() => HoldWriter();
    ReadTransaction IBackupHost.ReadAtAppendPositionLocked() => new(this, Cache, _snapshots, _sequence);
    void IBackupHost.ThrowIfUnusable() => ThrowIfUnusable();
    void IBackupHost.ThrowIfReadOnly(string what) => ThrowIfReadOnly(what);
    bool IBackupHost.ShippingOn => _shipping.IsOn;
    uint IBackupHost.ShippingPin() => _shipping.Pin();
    List<uint> IBackupHost.DeleteGenerations(uint limit) => DeleteGenerations(limit);
}
