using Blueback.Protocol.Programs;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.Backup;

/// <summary>What a repository holds, as <c>blueback list</c> shows it and the server's policies read it (in process,
/// through this one method): the committed sets with their last verify and proof, and the shipped log ranges.</summary>
public static class RepositoryListing
{
    /// <summary>The committed sets, oldest first, each with its last verify and proof records.</summary>
    public static async Task<List<ListedSet>> SetsAsync(BackupRepository repository, IReadOnlyList<Manifest> sets, CancellationToken ct)
    {
        var listed = new List<ListedSet>(sets.Count);
        foreach (var s in sets)
        {
            var verified = await repository.LastVerifiedAsync(s.SetId, ct).ConfigureAwait(false);
            var proved = await repository.LastProvedAsync(s.SetId, ct).ConfigureAwait(false);
            listed.Add(new ListedSet
            {
                Verified = verified is null ? null : new ListedVerify { Time = verified.Time, Ok = verified.Ok, Problems = verified.Problems },
                Proved = proved is null ? null : Outcome(proved),
                Digest = s.TableDigests is not null,
                Id = s.SetId,
                Instance = s.Instance,
                Type = s.Type,
                ChangedSince = s.ChangedSince,
                UnchangedFrom = s.UnchangedFrom,
                Started = s.Started,
                Ended = s.Ended,
                GenLow = s.GenLow,
                GenHigh = s.GenHigh,
                Parent = s.ParentSetId,
                Size = s.Files.Sum(f => f.Size),
                Stored = s.Files.Sum(f => f.Chunks.Sum(c => (long)c.StoredSize)),
                Immutable = repository.Immutable?.ToString(),
                LockedUntil = repository.IsImmutable ? repository.LockedUntil(s.Ended) : null,
            });
        }
        return listed;
    }

    /// <summary>Marks each set held by a second repository too (<c>list --also</c>; see <see cref="HeldAsync"/>).</summary>
    public static async Task MarkAlsoInAsync(List<ListedSet> sets, IRepositoryStore second, CancellationToken ct)
    {
        var held = await HeldAsync(second, sets.Select(s => s.Id), ct).ConfigureAwait(false);
        sets.ForEach(s => s.AlsoIn = held.Contains(s.Id));
    }

    /// <summary>Which of <paramref name="ids"/> a second repository holds: a committed manifest of the same id there,
    /// which is what makes a set exist, and no tombstone beside it (an immutable repository keeps a forgotten set's
    /// manifest until its lock passes). Only names are read, so no key is needed.</summary>
    public static async Task<HashSet<string>> HeldAsync(IRepositoryStore second, IEnumerable<string> ids, CancellationToken ct)
    {
        if (!await second.ExistsAsync("config.json", ct).ConfigureAwait(false))
        {
            throw new RepositoryNotFoundException(second.Location, $"'{second.Location}' (the second repository) is not a Blueback repository (no config.json); give the second repository's location.");
        }
        var held = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (await second.ExistsAsync(BackupRepository.ManifestKey(id), ct).ConfigureAwait(false)
                && !await second.ExistsAsync(BackupRepository.ForgottenKey(id), ct).ConfigureAwait(false))
            {
                held.Add(id);
            }
        }
        return held;
    }

    /// <summary>Per instance and log stream: the shipped run that follows the newest set of the stream (its cover
    /// read from its last manifest), and how many shipped generations lie beyond a gap.</summary>
    public static async Task<List<ListedShippedRange>> ShippedAsync(BackupRepository repository, IReadOnlyList<Manifest> sets, CancellationToken ct)
    {
        var ranges = new List<ListedShippedRange>();
        var shipped = await repository.ListShippedAsync(null, ct).ConfigureAwait(false);
        foreach (var stream in shipped.GroupBy(k => (k.Instance, k.LogSignature)))
        {
            var (instance, signature) = stream.Key;
            var own = sets.Where(s => s.Instance == instance && s.LogSignature == signature).ToList();
            var newest = own.Where(ChainResolver.IsBase).MaxBy(s => s.GenHigh);
            uint through = own.Count > 0 ? own.Max(s => s.GenHigh) : 0;
            var run = newest is null ? stream.ToList() : ShippedChain.Follow(shipped, instance, signature, through);
            var stranded = newest is null ? 0 : ShippedChain.Stranded(shipped, instance, signature, through).Count;
            DateTime? cover = run.Count > 0 ? (await repository.ReadShippedAsync(run[^1], ct).ConfigureAwait(false)).LogsCover : null;
            ranges.Add(new ListedShippedRange
            {
                Id = $"{BackupRepository.ShippedRoot}/{instance}/{signature}",
                Instance = instance,
                Type = BackupRepository.ShippedType,
                LogSignature = signature,
                GenLow = run.Count > 0 ? run[0].Generation : 0,
                GenHigh = run.Count > 0 ? run[^1].Generation : through,
                Generations = run.Count,
                AttachedTo = newest?.SetId,
                Cover = cover,
                LagSeconds = cover is { } c ? Math.Round((DateTime.UtcNow - c).TotalSeconds, 1) : null,
                Stranded = stranded,
            });
        }
        return ranges;
    }

    /// <summary>A proof record as the programs' contract carries it.</summary>
    public static ProofOutcome Outcome(ProofRecord proof) => new()
    {
        Time = proof.Time,
        Ok = proof.Ok,
        Seconds = proof.Seconds,
        Chain = proof.Chain,
        PagesChecked = proof.PagesChecked,
        Tables = proof.Tables,
        Rows = proof.Rows,
        DigestMatch = proof.DigestMatch,
        Problems = proof.Problems,
    };
}
