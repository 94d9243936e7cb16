using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Shipping;

namespace Blueback.Storage;

/// <summary>Log shipping, the engine's side: the persistent mark that pins every generation not yet shipped, the
/// early close of a generation whose oldest commit has waited long enough, and truncation once a generation is
/// shipped and crash recovery no longer needs it (log truncation without incremental backups).</summary>
public sealed partial class StorageInstance
{
    private readonly Lock _shippingLock = new();
    private ShippingMark? _shipping;

    /// <summary>The shipping mark (a copy), or null when nothing ships this instance.</summary>
    public ShippingMark? Shipping
    {
        get
        {
            lock (_shippingLock)
            {
                return _shipping?.Clone();
            }
        }
    }

    /// <summary>Every generation up to this one is closed and durable.</summary>
    public uint CompleteThrough => FlushedLsn.Generation - 1;

    /// <summary>The first generation the shipping mark keeps (uint.MaxValue: none).</summary>
    private uint ShippingPin()
    {
        lock (_shippingLock)
        {
            return _shipping is { } m ? m.ShippedThrough + 1 : uint.MaxValue;
        }
    }

    /// <summary>Generations from here on are kept (a running backup or the shipping mark needs them); null: no pin.</summary>
    internal uint? PinnedFrom()
    {
        uint pin = Math.Min(_backup?.GenLow ?? uint.MaxValue, ShippingPin());
        return pin == uint.MaxValue ? null : pin;
    }

    /// <summary>A shipper takes up (or resumes) shipping into a repository that holds every generation up to
    /// <paramref name="resumeAfter"/>: refused when the next one it needs is gone, or when the repository is ahead
    /// of this log. The mark is written durably before this returns: from now on nothing unshipped is deleted.</summary>
    public ShippingMark ClaimShipping(string repositoryId, string repository, uint resumeAfter)
    {
        ThrowIfUnusable();
        ThrowIfStandby("shipping");
        lock (_checkpointLock)
        {
            lock (_shippingLock)
            {
                uint current = _log.CurrentGeneration;
                if (resumeAfter >= current)
                {
                    throw new ShippingRefusedException($"The repository holds generations of instance '{Name}' up to {resumeAfter}, but this instance's log is only at generation {current} (log stream {LogSignature.Id:N}): the repository holds a history this instance does not have (was the instance restored to an earlier point?). Ship into a new repository after a full backup.");
                }
                var onDisk = LogFiles.List(LogDirectory).ToHashSet();
                for (uint g = resumeAfter + 1; g < _log.FileGeneration; g++)
                {
                    if (!onDisk.Contains(g))
                    {
                        uint oldest = onDisk.Count == 0 ? current : onDisk.Min();
                        throw new ShippingRefusedException($"Log generation {g} of instance '{Name}', the next the repository needs (it holds up to {resumeAfter}), is no longer on the server (the oldest kept is {oldest}): it was truncated by a backup or shipped into another repository. Take a full backup into this repository ('blueback backup --type full'), then start 'blueback ship' again.");
                    }
                }
                var mark = _shipping is { } m && m.RepositoryId == repositoryId ? m.Clone() : new ShippingMark { RepositoryId = repositoryId, Since = DateTime.UtcNow };
                mark.Repository = repository;
                mark.ShippedThrough = resumeAfter;
                mark.Write(Directory);
                _shipping = mark;
                return mark.Clone();
            }
        }
    }

    /// <summary>The repository now holds every generation up to <paramref name="through"/>: the mark moves (never
    /// back), and the shipped generations that crash recovery and running backups no longer need are deleted.
    /// Returns the generations deleted.</summary>
    public IReadOnlyList<uint> AcknowledgeShipped(string repositoryId, uint through)
    {
        ThrowIfUnusable();
        lock (_checkpointLock)
        {
            lock (_shippingLock)
            {
                if (_shipping is not { } m)
                {
                    throw new ShippingRefusedException($"Instance '{Name}' is not being shipped (shipping was turned off); start 'blueback ship' again to take it up.");
                }
                if (m.RepositoryId != repositoryId)
                {
                    throw new ShippingRefusedException($"Instance '{Name}' now ships into repository {m.RepositoryId} ({m.Repository}), not {repositoryId}: another shipper took it over.");
                }
                if (through > CompleteThrough)
                {
                    throw new ShippingRefusedException($"Generation {through} of instance '{Name}' is not closed yet (closed through {CompleteThrough}); it cannot have been shipped.");
                }
                if (through > m.ShippedThrough)
                {
                    var next = m.Clone();
                    next.ShippedThrough = through;
                    next.LastShipped = DateTime.UtcNow;
                    next.Write(Directory);
                    _shipping = next;
                }
            }
            // Crash recovery needs everything from the checkpoint; the generation being written stays too.
            uint limit = Math.Min(Math.Min(_checkpoint.Generation, _log.FileGeneration), PinnedFrom() ?? uint.MaxValue);
            return DeleteGenerations(limit);
        }
    }

    /// <summary>Turns shipping off: the mark is removed and generations are again kept only for crash recovery and
    /// backups.</summary>
    public void StopShipping()
    {
        lock (_shippingLock)
        {
            ShippingMark.Delete(Directory);
            _shipping = null;
        }
    }

    /// <summary>Closes the current generation when its oldest record (flush marks aside) is at least
    /// <paramref name="age"/> old, and waits (bounded) until it is durable.</summary>
    public async Task<ShippableLogs> CloseForShippingAsync(TimeSpan age, CancellationToken cancellationToken)
    {
        ThrowIfUnusable();
        ThrowIfStandby("shipping");
        DateTime cover;
        bool rolled;
        Lsn end;
        using (_log.AppendScope())
        {
            cover = DateTime.UtcNow;
            (_, rolled) = _log.RollIfOlderLocked(age, cover);
            end = _log.AppendPositionLocked;
        }
        if (rolled)
        {
            await _log.WhenFlushedAsync(end).WaitAsync(Options.WaitTimeout, cancellationToken).ConfigureAwait(false);
        }
        return new ShippableLogs(CompleteThrough, rolled ? cover : null);
    }

    /// <summary>A closed generation, verified in full, for the shipper.</summary>
    public WholeGeneration ReadForShipping(uint generation)
    {
        ThrowIfUnusable();
        ThrowIfStandby("shipping");
        if (generation > CompleteThrough)
        {
            throw new ShippingRefusedException($"Generation {generation} of instance '{Name}' is not closed yet (closed through {CompleteThrough}); ask for it once it is.");
        }
        if (!File.Exists(LogFiles.PathOf(LogDirectory, generation)))
        {
            throw new ShippingRefusedException($"Log generation {generation} of instance '{Name}' is no longer on the server (truncated by a backup, or shipped into another repository). Take a full backup into the shipper's repository, then start 'blueback ship' again.");
        }
        return WholeGeneration.Read(LogDirectory, generation, LogSignature, "shipping");
    }

    /// <summary>The state of shipping now, or null when nothing ships this instance.</summary>
    public ShippingState? ShippingNow()
    {
        var mark = Shipping;
        if (mark is null || _closed || _standby is not null)
        {
            return null;
        }
        uint complete = CompleteThrough;
        var now = DateTime.UtcNow;
        uint first = mark.ShippedThrough + 1;
        var unshipped = LogFiles.List(LogDirectory).Where(g => g >= first && g <= complete).ToList();
        long bytes = unshipped.Sum(g => new FileInfo(LogFiles.PathOf(LogDirectory, g)).Length);
        DateTime? oldest;
        using (_log.AppendScope())
        {
            oldest = _log.FirstRecordTimeLocked(first);
        }
        if (oldest is null && first <= complete && File.Exists(LogFiles.PathOf(LogDirectory, first)))
        {
            oldest = LogFiles.ReadHeader(LogDirectory, first).Header.CreatedTicks is var t && t > 0 ? new DateTime(t, DateTimeKind.Utc) : null;
        }
        var lag = oldest is { } o && now > o ? now - o : TimeSpan.Zero;
        var (free, total) = FileSystem.VolumeSpace(LogDirectory);
        return new ShippingState(mark, complete, oldest is null && first > complete ? null : first, unshipped.Count, bytes, lag, free, total);
    }

    /// <summary>Deletes every generation below <paramref name="limit"/> (the caller holds the checkpoint lock): retired
    /// at once, freed on the disk in the background.</summary>
    private List<uint> DeleteGenerations(uint limit) => RetireGenerations(LogFiles.List(LogDirectory).Where(g => g < limit).ToList());
}
