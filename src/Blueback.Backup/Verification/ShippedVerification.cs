using Blueback.Repository;

namespace Blueback.Backup;

/// <summary>What <c>verify</c> checks of shipped logs, per instance and log stream: each generation like a set's
/// (manifest, chunks, hash, every record, its end record, its log stream), and the run as a whole: it attaches to
/// a full set of the same stream and has no gap (a generation after a gap is never replayed, and is named).</summary>
public static class ShippedVerification
{
    /// <summary>One result per shipped generation (its problems; empty when good), and the problems of the runs.</summary>
    public static async Task<(List<(ShippedKey Key, List<string> Problems)> Generations, List<string> Runs)> VerifyAsync(
        BackupRepository repo, IReadOnlyList<Manifest> sets, IReadOnlyList<ShippedKey> shipped, CancellationToken ct)
    {
        var generations = new List<(ShippedKey, List<string>)>();
        foreach (var key in shipped)
        {
            List<string> problems;
            try
            {
                var m = await repo.ReadShippedAsync(key, ct).ConfigureAwait(false);
                problems = await SetVerification.VerifyAsync(repo, m, sets, ct).ConfigureAwait(false);
            }
            catch (RepositoryException ex)
            {
                problems = [ex.Message];
            }
            generations.Add((key, problems));
        }
        return (generations, RunProblems(sets, shipped));
    }

    /// <summary>Each stream's shipped run: attached to a full set of its stream, and whole after it.</summary>
    public static List<string> RunProblems(IReadOnlyList<Manifest> sets, IReadOnlyList<ShippedKey> shipped)
    {
        var problems = new List<string>();
        foreach (var stream in shipped.GroupBy(k => (k.Instance, k.LogSignature)))
        {
            var (instance, signature) = stream.Key;
            var own = sets.Where(s => s.Instance == instance && s.LogSignature == signature).ToList();
            uint low = stream.Min(k => k.Generation), high = stream.Max(k => k.Generation);
            if (!own.Any(ChainResolver.IsBase))
            {
                problems.Add($"shipped generations {low}-{high} of instance '{instance}' (log stream {signature}) attach to no full set of that log stream in this repository: restore cannot use them. Take a full backup of the instance into this repository.");
                continue;
            }
            uint through = own.Max(s => s.GenHigh);
            var stranded = ShippedChain.Stranded(shipped, instance, signature, through);
            if (stranded.Count > 0)
            {
                uint reached = ShippedChain.Follow(shipped, instance, signature, through).LastOrDefault() is { Generation: > 0 } last ? last.Generation : through;
                problems.Add($"shipped generations of instance '{instance}' (log stream {signature}) have a gap: generation {reached + 1} is missing, so {stranded.Count} shipped generation(s) after it ({stranded.Min(k => k.Generation)}-{stranded.Max(k => k.Generation)}) are never replayed; restore stops at generation {reached}. Take a full backup to start a whole chain again.");
            }
        }
        return problems;
    }
}
