using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Format;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

/// <summary>A restore failed before anything was written, or its input is wrong: the message says what to do. A
/// <see cref="RestoreException"/>, like every restore failure.</summary>
public sealed class RestorePlanException(string message) : RestoreException(message);

/// <summary>Which sets a restore needs: a full (or copy) set and the chain of later sets up to the one asked for,
/// or, for <c>latest</c> with a stop point, the newest full set that ends before the stop and the sets after it.</summary>
public static class RestorePlanner
{
    /// <summary>The plan from what the repository holds: for <c>latest</c>, the chain and then the shipped
    /// generations that follow it without a gap (up to the one that covers the stop point, if one is given).</summary>
    public static async Task<List<Manifest>> PlanAsync(BackupRepository repo, string setArg, string? instance, RecoveryStop? stop, bool liveLogsFollow, CancellationToken ct)
    {
        // By id, an immutable repository's forgotten sets count too: held, locked, until gc may remove them.
        var sets = setArg == "latest" ? await repo.ListSetsAsync(ct).ConfigureAwait(false) : await repo.ListSetsHeldAsync(ct).ConfigureAwait(false);
        setArg = setArg == "latest" ? setArg : SetIds.ResolveId(sets, setArg); // a unique prefix names its set
        var shipped = setArg == "latest" ? await repo.ListShippedAsync(instance, ct).ConfigureAwait(false) : [];
        if (shipped.Count == 0)
        {
            return Plan(sets, setArg, instance, stop, liveLogsFollow);
        }
        // Shipped logs may reach a stop point that no set does: the chain is planned as if logs followed it, and
        // the stop is checked once the shipped generations are added.
        var chain = Plan(sets, setArg, instance, stop, liveLogsFollow: true);
        var last = chain[^1];
        var run = ShippedChain.Follow(shipped, last.Instance, last.LogSignature, chain.Max(s => s.GenHigh));
        var manifests = await repo.ReadShippedAsync(run, ct).ConfigureAwait(false);
        foreach (var m in manifests)
        {
            chain.Add(m);
            if (stop is not null && Covers(m, stop))
            {
                break; // what follows lies after the stop point
            }
        }
        if (stop is not null && !liveLogsFollow && !Covers(chain[^1], stop))
        {
            var end = chain[^1];
            throw new RestorePlanException($"the stop point {stop} is after everything this chain holds ({Describe(chain)}, whose logs end with generation {end.GenHigh}{(end.LogsCover is { } c ? $" and cover commits up to {c:O}" : "")}): nothing after that is in the repository. Choose an earlier stop point.");
        }
        return chain;
    }

    /// <summary>A plan in a line: its sets by type and id, its shipped generations as a range.</summary>
    public static string Describe(IReadOnlyList<Manifest> plan)
    {
        var sets = plan.Where(s => s.Type != BackupRepository.ShippedType).Select(s => $"{s.Type} {s.SetId}");
        var shipped = plan.Where(s => s.Type == BackupRepository.ShippedType).ToList();
        return string.Join(" + ", shipped.Count == 0 ? sets : sets.Append($"{shipped.Count} shipped generation(s) {shipped[0].GenLow}-{shipped[^1].GenHigh}"));
    }

    public static List<Manifest> Plan(IReadOnlyList<Manifest> sets, string setArg, string? instance, RecoveryStop? stop, bool liveLogsFollow)
    {
        if (setArg != "latest")
        {
            setArg = SetIds.ResolveId(sets, setArg); // exit 3 for none, whatever else the repository holds
        }
        var candidates = sets.Where(s => instance is null || s.Instance == instance).ToList();
        if (candidates.Count == 0)
        {
            throw new RestorePlanException(instance is null ? "the repository holds no backup set." : $"the repository holds no backup set of instance '{instance}'.");
        }
        Manifest target;
        if (setArg != "latest")
        {
            target = sets.First(s => s.SetId == setArg);
        }
        else
        {
            var instances = candidates.Select(s => s.Instance).Distinct().ToList();
            if (instances.Count > 1)
            {
                throw new RestorePlanException($"the repository holds sets of several instances ({string.Join(", ", instances)}); say which with --instance.");
            }
            target = stop is null ? candidates.MaxBy(s => s.Ended)! : LatestFor(candidates, stop);
        }
        List<Manifest> chain;
        try
        {
            chain = ChainResolver.ChainOf(target, sets);
        }
        catch (ChainBrokenException ex)
        {
            throw new RestorePlanException($"{ex.Message}. Restore an earlier set.");
        }
        if (stop is not null && !liveLogsFollow && !Covers(chain[^1], stop))
        {
            var last = chain[^1];
            throw new RestorePlanException($"the stop point {stop} is after the newest set of this chain ({last.SetId}, whose logs end with generation {last.GenHigh}{(last.LogsCover is { } c ? $" and cover commits up to {c:O}" : "")}): nothing after that is in the repository. Take a later backup, or choose an earlier stop point.");
        }
        return chain;
    }

    /// <summary>The newest set whose chain starts with a full set that ends before the stop, preferring the first
    /// such set that reaches the stop (least to replay).</summary>
    private static Manifest LatestFor(List<Manifest> sets, RecoveryStop stop)
    {
        var bases = sets.Where(s => ChainResolver.IsBase(s) && EndsBefore(s, stop)).OrderBy(s => s.Ended).ToList();
        var chosen = bases.LastOrDefault()
            ?? throw new RestorePlanException($"no full set of this instance ends before the stop point {stop}: the oldest ends {sets.Where(ChainResolver.IsBase).Select(s => (DateTime?)s.Ended).Min():O}. Choose a later stop point.");
        var descendants = sets.Where(s => s == chosen || ChainResolver.Descends(s, chosen, sets)).OrderBy(s => s.Ended).ToList();
        return descendants.FirstOrDefault(s => Covers(s, stop)) ?? descendants[^1];
    }

    private static Lsn End(Manifest s) => new(s.GenHigh + 1, LogFileHeader.RegionSize);

    private static bool EndsBefore(Manifest s, RecoveryStop stop) =>
        stop.Lsn is { } l ? End(s) <= l : (s.LogsCover ?? s.Ended) <= stop.Time!.Value;

    private static bool Covers(Manifest s, RecoveryStop stop) =>
        stop.Lsn is { } l ? End(s) >= l : (s.LogsCover ?? DateTime.MinValue) >= stop.Time!.Value;
}
