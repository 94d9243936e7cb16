using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Shipping;

namespace Blueback.Storage;

/// <summary>Log shipping's calls on the instance, each handed to <see cref="LogShipping"/> (Storage/Shipping), which
/// owns the mark and the rules; the instance gives it what it needs as an <see cref="IShippingHost"/>.</summary>
public sealed partial class StorageInstance : IShippingHost
{
    private readonly LogShipping _shipping;

    /// <summary>The shipping mark (a copy), or null when nothing ships this instance.</summary>
    public ShippingMark? Shipping => _shipping.Mark;

    /// <summary>Every generation up to this one is closed and durable.</summary>
    public uint CompleteThrough => FlushedLsn.Generation - 1;

    /// <summary>Generations from here on are kept (a running backup or the shipping mark needs them); null: no pin.</summary>
    internal uint? PinnedFrom()
    {
        uint pin = Math.Min(_backups.Running?.GenLow ?? uint.MaxValue, _shipping.Pin());
        return pin == uint.MaxValue ? null : pin;
    }

    /// <inheritdoc cref="LogShipping.Claim"/>
    public ShippingMark ClaimShipping(string repositoryId, string repository, uint resumeAfter) => _shipping.Claim(repositoryId, repository, resumeAfter);

    /// <inheritdoc cref="LogShipping.Acknowledge"/>
    public IReadOnlyList<uint> AcknowledgeShipped(string repositoryId, uint through) => _shipping.Acknowledge(repositoryId, through);

    /// <inheritdoc cref="LogShipping.Stop"/>
    public void StopShipping() => _shipping.Stop();

    /// <inheritdoc cref="LogShipping.CloseAsync"/>
    public Task<ShippableLogs> CloseForShippingAsync(TimeSpan age, CancellationToken cancellationToken) => _shipping.CloseAsync(age, cancellationToken);

    /// <inheritdoc cref="LogShipping.Read"/>
    public WholeGeneration ReadForShipping(uint generation) => _shipping.Read(generation);

    /// <inheritdoc cref="LogShipping.Now"/>
    public ShippingState? ShippingNow() => _shipping.Now();

    /// <summary>Deletes every generation below <paramref name="limit"/> (the caller holds the checkpoint lock): retired
    /// at once, freed on the disk in the background.</summary>
    private List<uint> DeleteGenerations(uint limit) => RetireGenerations(LogFiles.List(LogDirectory).Where(g => g < limit).ToList());

    LogWriter IShippingHost.Log => _log;
    Lock IShippingHost.CheckpointLock => _checkpointLock;
    uint IShippingHost.CheckpointGeneration => _checkpoint.Generation;
    TimeSpan IShippingHost.WaitTimeout => Options.WaitTimeout;
    bool IShippingHost.Idle => _closed || _standby is not null;
    void IShippingHost.ThrowIfUnusable() => ThrowIfUnusable();
    void IShippingHost.ThrowIfReadOnly(string what) => ThrowIfReadOnly(what);
    uint? IShippingHost.PinnedFrom() => PinnedFrom();
    List<uint> IShippingHost.DeleteGenerations(uint limit) => DeleteGenerations(limit);
}
