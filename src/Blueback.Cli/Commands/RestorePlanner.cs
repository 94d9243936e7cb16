using Blueback.Repository;
using Blueback.Storage.Format;
using Blueback.Storage.Restore;

namespace Blueback.Cli.Commands;

/// <summary>A restore failed before anything was written, or its input is wrong: the message says what to do.</summary>
public sealed class RestorePlanException(string message) : Exception(message);

/// <summary>Which sets a restore needs: a full (or copy) set and the chain of later sets up to the one asked for,
/// or, for <c>latest</c> with a stop point, the newest full set that ends before the stop and the sets after it.</summary>
public static class RestorePlanner
{
    public static List<Manifest> Plan(IReadOnlyList<Manifest> sets, string setArg, string? instance, RecoveryStop? stop, bool liveLogsFollow)
    {
        var candidates = sets.Where(s => instance is null || s.Instance == instance).ToList();
        if (candidates.Count == 0)
        {
            throw new RestorePlanException(instance is null ? "the repository holds no backup set." : $"the repository holds no backup set of instance '{instance}'.");
        }
        Manifest target;
        if (setArg != "latest")
        {
            target = sets.FirstOrDefault(s => s.SetId == setArg)
                ?? throw new RestorePlanException($"the repository has no set '{setArg}' (a set without a committed manifest does not exist). 'blueback list' shows the sets.");
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
        var chain = ChainOf(target, sets);
        if (stop is not null && !liveLogsFollow && !Covers(chain[^1], stop))
        {
            var last = chain[^1];
            throw new RestorePlanException($"the stop point {stop} is after the newest set of this chain ({last.SetId}, whose logs end with generation {last.GenHigh}{(last.LogsCover is { } c ? $" and cover commits up to {c:O}" : "")}): nothing after that is in the repository. Take a later backup, or choose an earlier stop point.");
        }
        return chain;
    }

    /// <summary>The chain from a full or copy set to <paramref name="target"/>, oldest first; every link must exist
    /// and the generations must join without a gap.</summary>
    public static List<Manifest> ChainOf(Manifest target, IReadOnlyList<Manifest> sets)
    {
        var chain = new List<Manifest> { target };
        var at = target;
        while (at.Type is not ("full" or "copy"))
        {
            var parent = sets.FirstOrDefault(s => s.SetId == at.ParentSetId)
                ?? throw new RestorePlanException($"set {at.SetId} ({at.Type}) needs its parent set {at.ParentSetId ?? "(none)"}, which is not in the repository: the chain back to a full set is broken. Restore an earlier set.");
            if (at.GenLow > parent.GenHigh + 1)
            {
                throw new RestorePlanException($"set {at.SetId} starts at generation {at.GenLow}, but its parent {parent.SetId} ends at {parent.GenHigh}: generations {parent.GenHigh + 1} to {at.GenLow - 1} are in no set.");
            }
            if (parent.LogSignature != at.LogSignature || parent.Instance != at.Instance)
            {
                throw new RestorePlanException($"set {at.SetId} and its parent {parent.SetId} are of different log streams or instances: the repository's chain is inconsistent.");
            }
            chain.Insert(0, parent);
            at = parent;
        }
        return chain;
    }

    /// <summary>The newest set whose chain starts with a full set that ends before the stop, preferring the first
    /// such set that reaches the stop (least to replay).</summary>
    private static Manifest LatestFor(List<Manifest> sets, RecoveryStop stop)
    {
        var bases = sets.Where(s => s.Type is "full" or "copy" && EndsBefore(s, stop)).OrderBy(s => s.Ended).ToList();
        var chosen = bases.LastOrDefault()
            ?? throw new RestorePlanException($"no full set of this instance ends before the stop point {stop}: the oldest ends {sets.Where(s => s.Type is "full" or "copy").Select(s => (DateTime?)s.Ended).Min():O}. Choose a later stop point.");
        var descendants = sets.Where(s => s == chosen || InChain(s, chosen, sets)).OrderBy(s => s.Ended).ToList();
        return descendants.FirstOrDefault(s => Covers(s, stop)) ?? descendants[^1];
    }

    private static bool InChain(Manifest s, Manifest full, IReadOnlyList<Manifest> sets)
    {
        try
        {
            return ChainOf(s, sets)[0].SetId == full.SetId;
        }
        catch (RestorePlanException)
        {
            return false;
        }
    }

    private static Lsn End(Manifest s) => new(s.GenHigh + 1, LogFileHeader.RegionSize);

    private static bool EndsBefore(Manifest s, RecoveryStop stop) =>
        stop.Lsn is { } l ? End(s) <= l : (s.LogsCover ?? s.Ended) <= stop.Time!.Value;

    private static bool Covers(Manifest s, RecoveryStop stop) =>
        stop.Lsn is { } l ? End(s) >= l : (s.LogsCover ?? DateTime.MinValue) >= stop.Time!.Value;
}
