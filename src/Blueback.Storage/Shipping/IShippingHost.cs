using Blueback.Storage.Format;
using Blueback.Storage.Log;

namespace Blueback.Storage.Shipping;

/// <summary>What log shipping needs of its instance, and nothing more: names and paths, the log, the lock and the
/// checkpoint that decide which generations crash recovery still needs, and the deletion of generations (which
/// also serves backups and the checkpoint). <see cref="StorageInstance"/> implements it explicitly.</summary>
internal interface IShippingHost
{
    string Name { get; }
    string Directory { get; }
    string LogDirectory { get; }
    Signature LogSignature { get; }

    /// <summary>The instance's log (a standby has none: shipping refuses a standby before it asks).</summary>
    LogWriter Log { get; }

    /// <summary>Held while generations are deleted, so the checkpoint does not move meanwhile.</summary>
    Lock CheckpointLock { get; }

    /// <summary>The generation crash recovery would start from.</summary>
    uint CheckpointGeneration { get; }

    /// <summary>Every generation up to this one is closed and durable.</summary>
    uint CompleteThrough { get; }

    TimeSpan WaitTimeout { get; }

    /// <summary>Closed, or a standby: nothing ships from it.</summary>
    bool Idle { get; }

    void ThrowIfUnusable();

    void ThrowIfReadOnly(string what);

    /// <summary>Generations from here on are kept (a running backup or the shipping mark needs them); null: no pin.</summary>
    uint? PinnedFrom();

    /// <summary>Deletes every generation below <paramref name="limit"/>; the caller holds <see cref="CheckpointLock"/>.</summary>
    List<uint> DeleteGenerations(uint limit);
}
