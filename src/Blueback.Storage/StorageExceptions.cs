namespace Blueback.Storage;

/// <summary>Base of every error the engine raises on purpose. Messages name the file, page or generation and
/// say what to do.</summary>
public class StorageException : Exception
{
    public StorageException(string message) : base(message) { }
    public StorageException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A page failed its checksum or carries the wrong page number.</summary>
public sealed class PageCorruptException : StorageException
{
    public PageCorruptException(string file, uint page, string detail)
        : base($"Database '{file}', page {page}: {detail}. The page is damaged on disk; run 'blueback db checksum {file}' to list every bad page, then restore the database from a backup.")
    {
        File = file;
        Page = page;
        Detail = detail;
    }

    public string File { get; }
    public uint Page { get; }
    /// <summary>What is wrong with the page ("checksum mismatch").</summary>
    public string Detail { get; }
}

/// <summary>A page asked for by number is beyond the end of its database file.</summary>
public sealed class PageNotFoundException(string message) : StorageException(message);

/// <summary>A log generation is damaged, missing, foreign or out of sequence.</summary>
public sealed class LogCorruptException : StorageException
{
    public LogCorruptException(string message, uint generation, uint? offset = null) : base(message)
    {
        Generation = generation;
        Offset = offset;
    }

    public uint Generation { get; }
    public uint? Offset { get; }
}

/// <summary>A database is in a state that does not allow the operation (for example restored and awaiting
/// hard recovery, or belonging to another log stream).</summary>
public sealed class DatabaseStateException : StorageException
{
    public DatabaseStateException(string message) : base(message) { }
}

/// <summary>The instance hit an unrecoverable error (for example a failed log write). Every later call fails
/// with this error until the instance is closed and reopened, which runs recovery.</summary>
public sealed class InstancePoisonedException : StorageException
{
    public InstancePoisonedException(string instance, Exception cause)
        : base($"Instance '{instance}' stopped after an unrecoverable error: {Root(cause).Message} Nothing after the failure was acknowledged. Close and reopen the instance to run recovery.", Root(cause)) { }

    // A poisoned commit or a later call meets the log writer's own InstancePoisonedException: said once, not nested
    // ("stopped after an unrecoverable error: Instance 'store' stopped after an unrecoverable error: ...", seed 74).
    private static Exception Root(Exception cause) => cause is InstancePoisonedException { InnerException: { } inner } ? inner : cause;
}

/// <summary>A caller-supplied argument breaks a documented limit (key or value size, names).</summary>
public sealed class StorageLimitException : StorageException
{
    public StorageLimitException(string message) : base(message) { }
}

/// <summary>A bounded wait ran out (for the writer lock, or for a log flush).</summary>
public sealed class StorageTimeoutException : StorageException
{
    public StorageTimeoutException(string message) : base(message) { }
}

/// <summary>A restore or its hard recovery was refused or failed: a log range that does not match the images, a
/// stop point before the set's end, an interrupted restore, a restored database opened before its recovery.
/// The one base of every restore failure, whichever layer says it (the backup program's plan, the server's restore
/// session), so a caller catches one type: it lives here because the engine is the lowest layer that restores.</summary>
public class RestoreException : StorageException
{
    public RestoreException(string message) : base(message) { }
    public RestoreException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The disk failed a read or a write (the operating system's error is the inner exception).</summary>
public sealed class StorageIOException(string message, Exception inner) : StorageException(message, inner);

/// <summary>The log volume has no room for the next generation: commits are refused until space is freed; nothing
/// acknowledged is lost, and commits resume by themselves once the generation can be created.</summary>
public sealed class LogDiskFullException : StorageException
{
    public LogDiskFullException(string instance, uint generation, string directory, Exception inner, bool pending = false)
        : base($"Instance '{instance}': log generation {generation} cannot be created in '{directory}' ({inner.Message}). The log volume is full: commits are refused until space is freed there; they resume by themselves, and nothing acknowledged is lost."
            + (pending ? " This commit was not acknowledged: it is in the log's memory and becomes durable only if space is freed before the instance stops." : ""), inner)
    {
        Instance = instance;
        Generation = generation;
        Directory = directory;
    }

    public string Instance { get; }
    public uint Generation { get; }
    public string Directory { get; }

    /// <summary>A fresh exception with the same facts, for one more refused commit.</summary>
    public LogDiskFullException Again() => new(Instance, Generation, Directory, InnerException!);

    /// <summary>For a commit already in the log's memory when the volume filled: its outcome is not known.</summary>
    public LogDiskFullException Pending() => new(Instance, Generation, Directory, InnerException!, pending: true);
}

/// <summary>A write, backup or shipping asked of a mounted backup set, which is read-only (409).</summary>
public sealed class MountedSetException(string message) : StorageException(message);
