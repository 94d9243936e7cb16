using Blueback.Client;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Storage.Backup;

namespace Blueback.Backup;

/// <summary>Builds a backup set's manifest, the one place it is filled: what the server said of the backup (its
/// log stream, generations, databases and its own clock's times) and what the set writer wrote.</summary>
internal static class SetManifest
{
    public static Manifest Build(BackupSession session, BackupType type, Manifest? parent, string server, BackupLogsInfo logs, DateTime ended, BackupSetWriter writer) => new()
    {
        RepositoryId = writer.RepositoryId,
        SetId = writer.SetId,
        ParentSetId = parent?.SetId,
        Instance = session.Info.Instance,
        Server = server,
        Type = type.Name(),
        // Every time is the server's: restore --stop-at compares them with commit times the server's engine wrote,
        // and the backup program may run on a machine whose clock is off.
        Started = session.Info.Started,
        LogsCover = logs.LogsCover,
        Ended = ended,
        LogSignature = session.Info.LogSignature,
        GenLow = session.Info.GenLow,
        GenHigh = logs.GenHigh,
        Codec = writer.CodecName,
        Databases = session.Databases.Select(d => new ManifestDatabase { Name = d.Name, Id = d.Id, Signature = d.Signature, PageSize = d.PageSize }).ToList(),
        Files = [.. writer.Files],
    };
}
