namespace Blueback.Storage.Backup;

/// <summary>What a backup copies and what it changes afterwards (see docs/backup.md).</summary>
public enum BackupType
{
    /// <summary>Database images and the logs from the checkpoint; truncates; becomes the base of incrementals.</summary>
    Full,
    /// <summary>Like full, but no truncation and no change to the incremental base.</summary>
    Copy,
    /// <summary>The logs since the last full or incremental backup; truncates.</summary>
    Incremental,
    /// <summary>The logs since the last full backup; no truncation.</summary>
    Differential,
}

public static class BackupTypes
{
    public static bool IncludesDatabases(this BackupType t) => t is BackupType.Full or BackupType.Copy;

    public static bool Truncates(this BackupType t) => t is BackupType.Full or BackupType.Incremental;

    /// <summary>The name used on the wire and in manifests: "full", "copy", "incremental", "differential".</summary>
    public static string Name(this BackupType t) => t switch
    {
        BackupType.Full => "full",
        BackupType.Copy => "copy",
        BackupType.Incremental => "incremental",
        BackupType.Differential => "differential",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not a backup type"),
    };

    /// <summary>Whether a set of type <paramref name="t"/> can be the parent of one of type <paramref name="child"/>:
    /// an incremental follows the last full or incremental, a differential the last full (what the engine records
    /// as each one's base).</summary>
    public static bool CanParent(this BackupType t, BackupType child) => child switch
    {
        BackupType.Incremental => t is BackupType.Full or BackupType.Incremental,
        BackupType.Differential => t is BackupType.Full,
        _ => false,
    };

    public static bool TryParse(string? s, out BackupType type)
    {
        type = default;
        return s is not null && Enum.TryParse(s, ignoreCase: true, out type) && Enum.IsDefined(type);
    }
}

/// <summary>A backup cannot begin: the message says why and what to do.</summary>
public sealed class BackupRefusedException(string message) : StorageException(message);

/// <summary>A backup call came out of order: the message says what must come first.</summary>
public sealed class BackupSequenceException(string message) : StorageException(message);
