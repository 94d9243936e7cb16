using Blueback.Storage.Format;

namespace Blueback.Storage;

/// <summary>How an instance runs. Defaults suit a small server.</summary>
public sealed record InstanceOptions
{
    /// <summary>Name used in messages and thread names; defaults to the directory's name.</summary>
    public string? Name { get; init; }

    /// <summary>Size of each preallocated log generation file.</summary>
    public int LogGenerationSize { get; init; } = 4 << 20;

    /// <summary>Upper bound on the bytes of page versions the cache holds.</summary>
    public long CacheSize { get; init; } = 256L << 20;

    /// <summary>Delete generations below the checkpoint (incremental and differential backups become impossible).</summary>
    public bool CircularLogging { get; init; }

    /// <summary>Start a checkpoint after this much log since the last one.</summary>
    public long CheckpointLogBytes { get; init; } = 128L << 20;

    /// <summary>Start a checkpoint at least this often while pages are dirty.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound on waiting for the writer lock and for a commit's log flush.</summary>
    public TimeSpan WaitTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Summarize each closed log generation's changed pages on a background thread (the summaries changed-pages
    /// backups read). Off, they are built when a generation is retired or a changed-pages backup begins (tests use this
    /// to decide exactly when a summary exists).</summary>
    public bool SummarizeInBackground { get; init; } = true;

    /// <summary>Faults to inject into this instance's I/O (tests and failure drills); null in production.</summary>
    public IoFaults? Faults { get; init; }

    /// <summary>Where a page that fails its checksum in a normal read is repaired from (docs/engine.md); null: the
    /// read fails, naming the page.</summary>
    public Repair.IPageRepairSource? PageRepair { get; init; }

    /// <summary>Bound on one page repair (the fetch and the replay): readers of that page wait at most this.</summary>
    public TimeSpan PageRepairTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where the databases' pages live when they are not files (a mounted backup set's chunks and overlay);
    /// null: files.</summary>
    public Paging.IPageStores? PageStores { get; init; }

    /// <summary>Set when the instance is a mounted backup set (what set, for messages): every write, backup and
    /// shipping is refused (409), naming it.</summary>
    public string? MountedSet { get; init; }

    /// <summary>Page size for databases created without an explicit one.</summary>
    public int DefaultPageSize { get; init; } = FormatConstants.DefaultPageSize;

    internal void Validate()
    {
        if (LogGenerationSize < (128 << 10) || LogGenerationSize > (1 << 30) || LogGenerationSize % 4096 != 0)
        {
            throw new StorageLimitException($"Log generation size {LogGenerationSize} is out of range: use a multiple of 4096 from 128 KiB to 1 GiB.");
        }
        if (CacheSize < (4L << 20))
        {
            throw new StorageLimitException($"Cache size {CacheSize} is too small: at least 4 MiB.");
        }
        if (!FormatConstants.IsValidPageSize(DefaultPageSize))
        {
            throw new StorageLimitException($"Page size {DefaultPageSize} is not valid: use a power of two from {FormatConstants.MinPageSize} to {FormatConstants.MaxPageSize}.");
        }
    }
}

public enum CommitMode
{
    /// <summary>Acknowledged once the commit is on disk; shares a flush with concurrent commits.</summary>
    Durable,
    /// <summary>Acknowledged at once, flushed within tens of milliseconds; a crash may lose it (bulk loads).</summary>
    Lazy,
}
