using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;

namespace Blueback.Storage.Shipping;

/// <summary>Log shipping, the engine's side: the persistent mark that pins every generation not yet shipped, the
/// early close of a generation whose oldest commit has waited long enough, and truncation once a generation is
/// shipped and crash recovery no longer needs it (log truncation without incremental backups). The instance's
/// shipping calls come here; what it needs of the instance is <see cref="IShippingHost"/>.</summary>
internal sealed class LogShipping(IShippingHost host)
{
    private readonly Lock _lock = new();
    private ShippingMark? _mark = ShippingMark.Read(host.Directory);

    /// <summary>The shipping mark (a copy), or null when nothing ships this instance.</summary>
    public ShippingMark? Mark
    {
        get
        {
            lock (_lock)
            {
                return _mark?.Clone();
            }
        }
    }

    /// <summary>Whether a shipper holds the instance (read without the lock: for a message only).</summary>
    public bool IsOn => _mark is not null;

    /// <summary>The first generation the shipping mark keeps (uint.MaxValue: none).</summary>
    public uint Pin()
    {
        lock (_lock)
        {
            return _mark is { } m ? m.ShippedThrough + 1 : uint.MaxValue;
        }
    }

    /// <summary>A shipper takes up (or resumes) shipping into a repository that holds every generation up to
    /// <paramref name="resumeAfter"/>: refused when the next one it needs is gone, or when the repository is ahead
    /// of this log. The mark is written durably before this returns: from now on nothing unshipped is deleted.</summary>
    public ShippingMark Claim(string repositoryId, string repository, uint resumeAfter)
    {
        host.ThrowIfUnusable();
        host.ThrowIfReadOnly("shipping");
        var log = host.Log;
        lock (host.CheckpointLock)
        {
            lock (_lock)
            {
                uint current = log.CurrentGeneration;
                if (resumeAfter >= current)
                {
                    throw new ShippingRefusedException($"The repository holds generations of instance '{host.Name}' up to {resumeAfter}, but this instance's log is only at generation {current} (log stream {host.LogSignature.Id:N}): the repository holds a history this instance does not have (was the instance restored to an earlier point?). Ship into a new repository after a full backup.");
                }
                uint flushing = log.FileGeneration; // before the listing, as a backup's begin reads it
                var onDisk = LogFiles.List(host.LogDirectory).ToHashSet();
                for (uint g = resumeAfter + 1; g < flushing; g++)
                {
                    if (!onDisk.Contains(g))
                    {
                        uint oldest = onDisk.Count == 0 ? current : onDisk.Min();
                        throw new ShippingRefusedException($"Log generation {g} of instance '{host.Name}', the next the repository needs (it holds up to {resumeAfter}), is no longer on the server (the oldest kept is {oldest}): it was truncated by a backup or shipped into another repository. Take a full backup into this repository ('blueback backup --type full'), then start 'blueback ship' again.");
                    }
                }
                var mark = _mark is { } m && m.RepositoryId == repositoryId ? m.Clone() : new ShippingMark { RepositoryId = repositoryId, Since = DateTime.UtcNow };
                mark.Repository = repository;
                mark.ShippedThrough = resumeAfter;
                mark.Write(host.Directory);
                _mark = mark;
                return mark.Clone();
            }
        }
    }

    /// <summary>The repository now holds every generation up to <paramref name="through"/>: the mark moves (never
    /// back), and the shipped generations that crash recovery and running backups no longer need are deleted.
    /// Returns the generations deleted.</summary>
    public IReadOnlyList<uint> Acknowledge(string repositoryId, uint through)
    {
        host.ThrowIfUnusable();
        lock (host.CheckpointLock)
        {
            lock (_lock)
            {
                if (_mark is not { } m)
                {
                    throw new ShippingRefusedException($"Instance '{host.Name}' is not being shipped (shipping was turned off); start 'blueback ship' again to take it up.");
                }
                if (m.RepositoryId != repositoryId)
                {
                    throw new ShippingRefusedException($"Instance '{host.Name}' now ships into repository {m.RepositoryId} ({m.Repository}), not {repositoryId}: another shipper took it over.");
                }
                uint complete = host.CompleteThrough;
                if (through > complete)
                {
                    throw new ShippingRefusedException($"Generation {through} of instance '{host.Name}' is not closed yet (closed through {complete}); it cannot have been shipped.");
                }
                if (through > m.ShippedThrough)
                {
                    var next = m.Clone();
                    next.ShippedThrough = through;
                    next.LastShipped = DateTime.UtcNow;
                    next.Write(host.Directory);
                    _mark = next;
                }
            }
            // Crash recovery needs everything from the checkpoint; the generation being written stays too.
            uint limit = Math.Min(Math.Min(host.CheckpointGeneration, host.Log.FileGeneration), host.PinnedFrom() ?? uint.MaxValue);
            return host.DeleteGenerations(limit);
        }
    }

    /// <summary>Turns shipping off: the mark is removed and generations are again kept only for crash recovery and
    /// backups.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            ShippingMark.Delete(host.Directory);
            _mark = null;
        }
    }

    /// <summary>Closes the current generation when its oldest record (flush marks aside) is at least
    /// <paramref name="age"/> old, and waits (bounded) until it is durable.</summary>
    public async Task<ShippableLogs> CloseAsync(TimeSpan age, CancellationToken cancellationToken)
    {
        host.ThrowIfUnusable();
        host.ThrowIfReadOnly("shipping");
        var log = host.Log;
        DateTime cover;
        bool rolled;
        Lsn end;
        using (log.AppendScope())
        {
            cover = DateTime.UtcNow;
            (_, rolled) = log.RollIfOlderLocked(age, cover);
            end = log.AppendPositionLocked;
        }
        if (rolled)
        {
            await log.WhenFlushedAsync(end).WaitAsync(host.WaitTimeout, cancellationToken).ConfigureAwait(false);
        }
        return new ShippableLogs(host.CompleteThrough, rolled ? cover : null);
    }

    /// <summary>A closed generation, verified in full, for the shipper.</summary>
    public WholeGeneration Read(uint generation)
    {
        host.ThrowIfUnusable();
        host.ThrowIfReadOnly("shipping");
        uint complete = host.CompleteThrough;
        if (generation > complete)
        {
            throw new ShippingRefusedException($"Generation {generation} of instance '{host.Name}' is not closed yet (closed through {complete}); ask for it once it is.");
        }
        if (!File.Exists(LogFiles.PathOf(host.LogDirectory, generation)))
        {
            throw new ShippingRefusedException($"Log generation {generation} of instance '{host.Name}' is no longer on the server (truncated by a backup, or shipped into another repository). Take a full backup into the shipper's repository, then start 'blueback ship' again.");
        }
        return WholeGeneration.Read(host.LogDirectory, generation, host.LogSignature, "shipping");
    }

    /// <summary>The state of shipping now, or null when nothing ships this instance.</summary>
    public ShippingState? Now()
    {
        var mark = Mark;
        if (mark is null || host.Idle)
        {
            return null;
        }
        var log = host.Log;
        var logDirectory = host.LogDirectory;
        uint complete = host.CompleteThrough;
        var now = DateTime.UtcNow;
        uint first = mark.ShippedThrough + 1;
        var unshipped = LogFiles.List(logDirectory).Where(g => g >= first && g <= complete).ToList();
        long bytes = unshipped.Sum(g => new FileInfo(LogFiles.PathOf(logDirectory, g)).Length);
        DateTime? oldest;
        using (log.AppendScope())
        {
            oldest = log.FirstRecordTimeLocked(first);
        }
        if (oldest is null && first <= complete && File.Exists(LogFiles.PathOf(logDirectory, first)))
        {
            oldest = LogFiles.ReadHeader(logDirectory, first).Header.CreatedTicks is var t && t > 0 ? new DateTime(t, DateTimeKind.Utc) : null;
        }
        var lag = oldest is { } o && now > o ? now - o : TimeSpan.Zero;
        var (free, total) = FileSystem.VolumeSpace(logDirectory);
        return new ShippingState(mark, complete, oldest is null && first > complete ? null : first, unshipped.Count, bytes, lag, free, total);
    }
}
