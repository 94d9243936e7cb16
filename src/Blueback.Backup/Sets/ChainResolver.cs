using Blueback.Repository;
using Blueback.Storage.Backup;

namespace Blueback.Backup;

/// <summary>The one chain rule that backup, restore, verify and retention share: an incremental or differential
/// set names its parent; the chain runs back through parents to a full (or copy) set; each set's logs start no
/// later than the generation after its parent's last (an overlap is harmless: a backup killed after its commit
/// but before truncation leaves the next one starting earlier; a gap is not), in the same log stream and instance.</summary>
public static class ChainResolver
{
    /// <summary>The set's type; a manifest with a type this build does not know is named.</summary>
    public static BackupType TypeOf(Manifest set) =>
        BackupTypes.TryParse(set.Type, out var t) ? t : throw new RepositoryException($"set {set.SetId} has backup type '{set.Type}', which this version does not know; use a newer blueback.");

    /// <summary>Whether the set starts a chain (holds database images).</summary>
    public static bool IsBase(Manifest set) => TypeOf(set).IncludesDatabases();

    /// <summary>Whether the set holds pages changed since its page base (a changed-pages incremental or differential).</summary>
    public static bool IsPageSet(Manifest set) => set.ChangedSince is not null;

    /// <summary>Whether the set holds database pages at all: a full or copy set's images, a changed-pages set's pages.</summary>
    public static bool HoldsPages(Manifest set) => IsPageSet(set) || (BackupTypes.TryParse(set.Type, out var t) && t.IncludesDatabases()); // a shipped generation holds logs only

    /// <summary>The set a changed-pages set child of <paramref name="parent"/> lists its pages against: the nearest set
    /// of the chain, the parent itself included, that holds pages. A restore lays each such set's pages over the one
    /// before and replays only from the last one's logs, so every page changed since this set's first generation must
    /// be in the child.</summary>
    public static Manifest PageBase(Manifest parent, IReadOnlyList<Manifest> sets) =>
        ChainOf(parent, sets).Last(HoldsPages);

    /// <summary>The set a new <paramref name="type"/> backup of <paramref name="instance"/> follows: the newest
    /// set that can parent it (by log position, then end time), or null for a full or copy backup.</summary>
    public static Manifest? ParentForNew(IReadOnlyList<Manifest> sets, string instance, BackupType type) =>
        type.IncludesDatabases()
            ? null
            : sets.Where(s => s.Instance == instance && BackupTypes.TryParse(s.Type, out var t) && t.CanParent(type))
                .OrderBy(s => s.GenHigh).ThenBy(s => s.Ended).LastOrDefault();

    /// <summary>The parent a set names, if the repository holds it.</summary>
    public static Manifest? ParentOf(Manifest set, IReadOnlyList<Manifest> sets) =>
        set.ParentSetId is { } id ? sets.FirstOrDefault(s => s.SetId == id) : null;

    /// <summary>What is wrong with <paramref name="child"/> following <paramref name="parent"/> as a chain link,
    /// naming both sets and the generations; null when the link holds.</summary>
    /// <param name="childChangedSince">For a changed-pages child: the generation its pages are listed from. Its logs
    /// start at its own checkpoint, so no generation follows from the parent's; instead its pages must reach back to its
    /// page base's first generation.</param>
    public static string? LinkProblem(Manifest parent, string childId, string childInstance, string childLogSignature, uint childGenLow, uint? childChangedSince = null, IReadOnlyList<Manifest>? sets = null)
    {
        if (parent.Instance != childInstance)
        {
            return $"set {childId} is of instance '{childInstance}' but its parent {parent.SetId} of instance '{parent.Instance}'";
        }
        if (!string.Equals(parent.LogSignature, childLogSignature, StringComparison.Ordinal))
        {
            return $"set {childId} is of log stream {childLogSignature} but its parent {parent.SetId} of {parent.LogSignature} (the instance's log was started anew since, by a restore or a new instance): take a full backup";
        }
        if (childChangedSince is { } since)
        {
            Manifest pageBase;
            try
            {
                pageBase = sets is null ? parent : PageBase(parent, sets);
            }
            catch (ChainBrokenException ex)
            {
                return ex.Message;
            }
            return since > pageBase.GenLow
                ? $"set {childId} holds the pages changed since generation {since}, but its page base {pageBase.SetId} ({pageBase.Type}) starts at generation {pageBase.GenLow}: pages changed in generations {pageBase.GenLow} to {since - 1} are in no set of the chain"
                : null;
        }
        if (childGenLow > parent.GenHigh + 1)
        {
            return $"set {childId} starts at generation {childGenLow} but its parent {parent.SetId} ends at {parent.GenHigh}: generations {parent.GenHigh + 1} to {childGenLow - 1} are in no set of this repository (a gap in the chain; were they backed up into another repository?)";
        }
        return null;
    }

    public static string? LinkProblem(Manifest parent, Manifest child, IReadOnlyList<Manifest>? sets = null) =>
        LinkProblem(parent, child.SetId, child.Instance, child.LogSignature, child.GenLow, child.ChangedSince, sets);

    /// <summary>Every problem of the set's own link to its parent (none for a full or copy set).</summary>
    public static string? Problem(Manifest set, IReadOnlyList<Manifest> sets)
    {
        if (IsBase(set))
        {
            return null;
        }
        var parent = ParentOf(set, sets);
        return parent is null
            ? $"set {set.SetId} ({set.Type}) needs its parent set {set.ParentSetId ?? "(none)"}, which is not in the repository: the chain back to a full set is broken"
            : LinkProblem(parent, set, sets);
    }

    /// <summary>The chain from a full or copy set to <paramref name="target"/>, oldest first; throws
    /// <see cref="ChainBrokenException"/> naming the first broken link.</summary>
    public static List<Manifest> ChainOf(Manifest target, IReadOnlyList<Manifest> sets)
    {
        var chain = new List<Manifest> { target };
        var at = target;
        while (!IsBase(at))
        {
            if (Problem(at, sets) is { } problem)
            {
                throw new ChainBrokenException(problem);
            }
            at = ParentOf(at, sets)!;
            if (chain.Contains(at))
            {
                throw new ChainBrokenException($"set {at.SetId} is its own ancestor: the repository's chain is inconsistent");
            }
            chain.Insert(0, at);
        }
        return chain;
    }

    /// <summary>Whether <paramref name="set"/>'s chain is whole and starts at <paramref name="baseSet"/>.</summary>
    public static bool Descends(Manifest set, Manifest baseSet, IReadOnlyList<Manifest> sets)
    {
        try
        {
            return ChainOf(set, sets)[0].SetId == baseSet.SetId;
        }
        catch (ChainBrokenException)
        {
            return false;
        }
    }
}

/// <summary>A set's chain back to its full set is broken: the message names the sets and generations.</summary>
public sealed class ChainBrokenException(string message) : BackupProgramException(message);
