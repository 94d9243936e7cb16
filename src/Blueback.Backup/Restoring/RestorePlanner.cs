using Blueback.Repository;
using Blueback.Storage.Format;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

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
