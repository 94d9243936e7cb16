using Blueback.Storage.ChangedPages;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Transactions;

namespace Blueback.Storage.Backup;

/// <summary>What online backup needs of its instance, and nothing more: names and paths, the databases, the log, the
/// checkpoint and its lock, the writer lock, the page summaries, what shipping keeps, and the deletion of
/// generations. <see cref="StorageInstance"/> implements it explicitly.</summary>
internal interface IBackupHost
{
    string Name { get; }
    string LogDirectory { get; }
    Signature LogSignature { get; }
    InstanceOptions Options { get; }
    IReadOnlyList<Database> Databases { get; }
    Database GetDatabase(string name);
    BufferCache Cache { get; }

    /// <summary>The instance's log (a standby has none: a backup refuses a standby before it asks).</summary>
    LogWriter Log { get; }

    /// <summary>The page summaries changed-pages backups read (null on a standby).</summary>
    PageSummaries? Summaries { get; }

    /// <summary>Held while generations are deleted, so the checkpoint does not move meanwhile.</summary>
    Lock CheckpointLock { get; }

    /// <summary>The position crash recovery would start from.</summary>
    Lsn CheckpointLsn { get; }

    /// <summary>Takes a checkpoint now (it takes <see cref="CheckpointLock"/>, which may already be held).</summary>
    void CheckpointCore();

    /// <summary>The writer lock for an instance-level change: no attach, detach or half-appended transaction meanwhile.</summary>
    IDisposable HoldWriter();

    /// <summary>A read transaction of every commit appended so far; the caller holds the log's append scope.</summary>
    ReadTransaction ReadAtAppendPositionLocked();

    void ThrowIfUnusable();

    void ThrowIfReadOnly(string what);

    /// <summary>Whether a shipper holds the instance (for a message only).</summary>
    bool ShippingOn { get; }

    /// <summary>The first generation the shipping mark keeps (uint.MaxValue: none).</summary>
    uint ShippingPin();

    /// <summary>Deletes every generation below <paramref name="limit"/>; the caller holds <see cref="CheckpointLock"/>.</summary>
    List<uint> DeleteGenerations(uint limit);
}
