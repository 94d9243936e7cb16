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
