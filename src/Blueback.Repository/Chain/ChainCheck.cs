namespace Blueback.Repository.Chain;

/// <summary>What checking a repository's chain found: its head, where it began, and each problem, naming the
/// entry or set.</summary>
public sealed class ChainReport
{
    /// <summary>The last entry; null when the repository has no chain yet (it begins at the next commit).</summary>
    public ChainHead? Head { get; init; }

    /// <summary>When the chain began (its genesis entry), and how many sets and shipped generations the repository
    /// held then: those are checked against the hashes recorded there, not against entries of their own.</summary>
    public DateTime? Began { get; init; }
    public int Baseline { get; init; }
    public int Entries { get; init; }
    public List<string> Problems { get; } = [];
}

/// <summary>Checks a chain, as read, against what the repository holds now (every committed manifest's hash) and,
/// where one was recorded elsewhere, against an earlier head. Pure: the repository reads, this decides.</summary>
public static class ChainCheck
{
    public static ChainReport Check(string repositoryId, IReadOnlyList<StoredEntry> entries, IReadOnlyDictionary<string, string> manifests, ChainHead? expected)
    {
        var genesis = entries.FirstOrDefault(e => e.Entry?.Kind == ChainKinds.Genesis)?.Entry;
        var last = entries.LastOrDefault(e => e.NameSeq != long.MaxValue);
        var report = new ChainReport
        {
            Head = last is null ? null : new ChainHead(last.NameSeq, last.Hash),
            Began = genesis?.Time,
            Baseline = genesis?.Baseline?.Count ?? 0,
            Entries = entries.Count,
        };
        var p = report.Problems;
        // What the chain says each set's manifest is (the latest entry naming it), and which sets were forgotten.
        var recorded = new Dictionary<string, (string Hash, string Where)>(StringComparer.Ordinal);
        var forgotten = new HashSet<string>(StringComparer.Ordinal);
        long expectedSeq = 1;
        string prevHash = "";
        foreach (var s in entries)
        {
            if (s.NameSeq == long.MaxValue)
            {
                p.Add($"chain: '{s.Key}': {s.Error}.");
                continue;
            }
            if (s.NameSeq > expectedSeq)
            {
                p.Add(expectedSeq == s.NameSeq - 1
                    ? $"chain: entry {expectedSeq} ('{RepositoryChain.EntryKey(expectedSeq)}') is missing: it was removed."
                    : $"chain: entries {expectedSeq} to {s.NameSeq - 1} are missing: they were removed.");
            }
            if (s.Entry is not { } e)
            {
                p.Add($"chain: entry '{s.Key}' cannot be read ({s.Error}): it was changed or damaged.");
            }
            else
            {
                if (e.Seq != s.NameSeq)
                {
                    p.Add($"chain: entry '{s.Key}' says it is entry {e.Seq}: entries were moved or reordered.");
                }
                if (!string.Equals(e.Repository, repositoryId, StringComparison.Ordinal))
                {
                    p.Add($"chain: entry '{s.Key}' belongs to repository {e.Repository}, not to this one ({repositoryId}): it was copied in from elsewhere.");
                }
                if (s.NameSeq == 1 && e.Kind != ChainKinds.Genesis)
                {
                    p.Add($"chain: entry '{s.Key}' is a {e.Kind} entry where the chain's first (genesis) entry belongs: the chain was rebuilt.");
                }
                else if (!string.Equals(e.Prev, prevHash, StringComparison.Ordinal) && s.NameSeq == expectedSeq)
                {
                    p.Add($"chain: entry '{s.Key}' does not follow the entry before it (it names another hash as its predecessor): an entry was inserted, changed or reordered before it.");
                }
                Apply(e, s.NameSeq, recorded, forgotten);
            }
            prevHash = s.Hash;
            expectedSeq = s.NameSeq + 1;
        }
        CompareSets(recorded, forgotten, manifests, entries.Count > 0, p);
        if (expected is { } head)
        {
            CompareHead(head, entries, last, p);
        }
        return report;
    }

    private static void Apply(ChainEntry e, long seq, Dictionary<string, (string Hash, string Where)> recorded, HashSet<string> forgotten)
    {
        switch (e.Kind)
        {
            case ChainKinds.Genesis:
                foreach (var item in e.Baseline ?? [])
                {
                    recorded[item.Set] = (item.Manifest, "held when the chain began (entry 1)");
                }
                break;
            case ChainKinds.Set or ChainKinds.Shipped when e.Set is not null && e.Manifest is not null:
                recorded[e.Set] = (e.Manifest, $"committed at chain entry {seq}");
                forgotten.Remove(e.Set);
                break;
            case ChainKinds.Forget when e.Set is not null:
                forgotten.Add(e.Set);
                break;
        }
    }

    private static void CompareSets(Dictionary<string, (string Hash, string Where)> recorded, HashSet<string> forgotten, IReadOnlyDictionary<string, string> manifests, bool hasChain, List<string> p)
    {
        foreach (var (id, (hash, where)) in recorded.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            if (!manifests.TryGetValue(id, out var now))
            {
                if (!forgotten.Contains(id))
                {
                    p.Add($"set {id} ({where}) is gone, and no forget was recorded: its manifest was removed outside blueback.");
                }
            }
            else if (!string.Equals(now, hash, StringComparison.Ordinal))
            {
                p.Add($"set {id}: its manifest is not the one {where}: it was changed or replaced.");
            }
        }
        if (!hasChain)
        {
            return;
        }
        foreach (var id in manifests.Keys.Where(id => !recorded.ContainsKey(id)).Order(StringComparer.Ordinal))
        {
            p.Add($"set {id} is in no chain entry: it was put into the repository outside blueback (or its commit stopped between the manifest and its entry).");
        }
    }

    private static void CompareHead(ChainHead head, IReadOnlyList<StoredEntry> entries, StoredEntry? last, List<string> p)
    {
        var at = entries.FirstOrDefault(e => e.NameSeq == head.Seq);
        if (at is null)
        {
            p.Add(last is null
                ? $"chain: the repository has no chain, but its head was entry {head.Seq} when recorded: the whole chain was removed."
                : $"chain: it ends at entry {last.NameSeq}, but its head was entry {head.Seq} when recorded: the entries after {last.NameSeq} were removed (the chain was cut short).");
        }
        else if (!head.Matches(at.Hash))
        {
            p.Add($"chain: entry {head.Seq} is not the one recorded as the head ({head.Hash}; it hashes to {at.Hash}): the chain was rewritten from there or before.");
        }
    }
}
