using System.Globalization;

using Blueback.Protocol;
using Blueback.Repository;

namespace Blueback.Backup;

/// <summary>What to keep: the rules of <c>blueback forget</c>, each counted per instance.</summary>
public sealed record RetentionPolicy
{
    public int KeepLast { get; init; }
    public int KeepDaily { get; init; }
    public int KeepWeekly { get; init; }
    public int KeepMonthly { get; init; }
    /// <summary>Every set that ended within this long before the instance's newest set.</summary>
    public TimeSpan? KeepWithin { get; init; }

    public bool IsEmpty => KeepLast <= 0 && KeepDaily <= 0 && KeepWeekly <= 0 && KeepMonthly <= 0 && KeepWithin is null;
}

/// <summary>One set's fate and every reason for it.</summary>
public sealed record RetentionDecision(Manifest Set, bool Keep, IReadOnlyList<string> Reasons);

/// <summary>Decides which sets <c>forget</c> keeps, over the dependency graph: the rules pick sets, and a kept
/// incremental or differential keeps every set it needs (its parent chain back to its full set). The newest set of
/// each instance is always kept (a backup may be chaining onto it right now). Sets are ordered by log position,
/// then end time, never by id or name.</summary>
public static class Retention
{
    public static List<RetentionDecision> Plan(IReadOnlyList<Manifest> sets, RetentionPolicy policy)
    {
        var reasons = sets.ToDictionary(s => s.SetId, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var group in sets.GroupBy(s => s.Instance, StringComparer.Ordinal))
        {
            var newestFirst = group.OrderByDescending(s => s.GenHigh).ThenByDescending(s => s.Ended).ToList();
            reasons[newestFirst[0].SetId].Add("newest set of the instance (always kept: a backup may be chaining onto it)");
            for (int i = 0; i < Math.Min(policy.KeepLast, newestFirst.Count); i++)
            {
                reasons[newestFirst[i].SetId].Add($"one of the last {policy.KeepLast}");
            }
            Buckets(newestFirst, policy.KeepDaily, s => s.Ended.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "daily", reasons);
            Buckets(newestFirst, policy.KeepWeekly, s => $"{ISOWeek.GetYear(s.Ended)}-W{ISOWeek.GetWeekOfYear(s.Ended):D2}", "weekly", reasons);
            Buckets(newestFirst, policy.KeepMonthly, s => s.Ended.ToString("yyyy-MM", CultureInfo.InvariantCulture), "monthly", reasons);
            if (policy.KeepWithin is { } within)
            {
                var newest = newestFirst[0].Ended;
                foreach (var s in newestFirst.Where(s => newest - s.Ended <= within))
                {
                    reasons[s.SetId].Add($"within {Durations.Format(within)} of the newest set");
                }
            }
        }
        // Dependencies, to a fixed point: each kept set keeps the sets its restore needs.
        var work = new Queue<Manifest>(sets.Where(s => reasons[s.SetId].Count > 0));
        while (work.TryDequeue(out var kept))
        {
            if (ChainResolver.ParentOf(kept, sets) is { } parent)
            {
                bool wasKept = reasons[parent.SetId].Count > 0;
                reasons[parent.SetId].Add($"needed by {kept.Type} set {kept.SetId}");
                if (!wasKept)
                {
                    work.Enqueue(parent);
                }
            }
        }
        return sets.OrderBy(s => s.Instance, StringComparer.Ordinal).ThenBy(s => s.GenHigh).ThenBy(s => s.Ended)
            .Select(s => new RetentionDecision(s, reasons[s.SetId].Count > 0, reasons[s.SetId].Count > 0 ? reasons[s.SetId] : ["matched no rule and no kept set needs it"]))
            .ToList();
    }

    /// <summary>The newest set in each of the <paramref name="count"/> most recent periods that hold a set.</summary>
    private static void Buckets(List<Manifest> newestFirst, int count, Func<Manifest, string> period, string rule, Dictionary<string, List<string>> reasons)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in newestFirst)
        {
            if (seen.Count >= count)
            {
                break;
            }
            var p = period(s);
            if (seen.Add(p))
            {
                reasons[s.SetId].Add($"{rule} {p}");
            }
        }
    }
}
