using Blueback.Protocol;
using Blueback.Server.Sessions;
using Blueback.Storage;
using Blueback.Storage.Backup;

namespace Blueback.Server.Backups;

/// <summary>One running backup as the server hosts it for a client: the engine's backup plus a lease that every
/// call renews (the client library's counterpart is <c>Blueback.Client.BackupSession</c>).</summary>
public sealed class HostedBackup(InstanceBackup backup, TimeSpan lease, string? clientId = null) : ILeasedSession
{
    public InstanceBackup Backup { get; } = backup;
    public string Id { get; } = clientId ?? backup.Id.ToString("N");
    public Lease Lease { get; } = new(lease);
    public DateTime Started => Backup.Started;
    public bool IsFinished => Backup.IsFinished;
    public string? Error { get; set; }
    public string? AbortReason { get; private set; }

    public void Abort(string reason)
    {
        AbortReason ??= reason;
        Backup.Abort();
    }

    public BackupSessionInfo Info(StorageInstance instance) => new()
    {
        Id = Id,
        Instance = Backup.InstanceName,
        Type = Backup.Type.Name(),
        State = Backup.State.ToString().ToLowerInvariant(),
        Started = Backup.Started,
        GenLow = Backup.GenLow,
        GenHigh = Backup.GenHigh,
        LeaseSeconds = Lease.Length.TotalSeconds,
        LogSignature = instance.LogSignature.Id.ToString("N"),
        Databases = Backup.Databases.Select(d => new BackupDatabaseInfo
        {
            Name = d.Name,
            Id = d.Id,
            Signature = d.Signature.Id.ToString("N"),
            PageSize = d.PageSize,
            ImageSize = d.ImageSize,
        }).ToList(),
        Error = Error ?? AbortReason,
        ServerTime = DateTime.UtcNow,
    };
}
