using Blueback.Repository;

namespace Blueback.Backup;

/// <summary>Retention and garbage collection, each under the repository's maintenance lock so that two maintainers
/// never interleave (a backup needs no lock: it writes only its own set, and gc's grace period covers it).</summary>
public static class RepositoryMaintenance
{
    /// <summary>Decides which sets <paramref name="policy"/> keeps (of one instance, or of each), and unless
    /// <paramref name="dryRun"/> forgets the rest: their manifests go first, their data with a later gc.</summary>
    public static async Task<List<RetentionDecision>> ForgetAsync(BackupRepository repo, RetentionPolicy policy, string? instance, bool dryRun, CancellationToken ct)
    {
        var held = dryRun ? null : await RepositoryLock.AcquireAsync(repo, "forget", RepositoryLock.DefaultLease, ct).ConfigureAwait(false);
        try
        {
            var sets = (await repo.ListSetsAsync(ct).ConfigureAwait(false)).Where(s => instance is null || s.Instance == instance).ToList();
            var plan = Retention.Plan(sets, policy);
            if (!dryRun)
            {
                foreach (var d in plan.Where(d => !d.Keep))
                {
                    await repo.ForgetAsync(d.Set.SetId, ct).ConfigureAwait(false);
                }
            }
            return plan;
        }
        finally
        {
            if (held is not null)
            {
                await held.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Removes sets without a committed manifest that nothing has touched for <paramref name="grace"/>,
    /// and the store's leftovers (unfinished uploads).</summary>
    public static async Task<GcReport> CollectGarbageAsync(BackupRepository repo, TimeSpan grace, CancellationToken ct)
    {
        var held = await RepositoryLock.AcquireAsync(repo, "gc", RepositoryLock.DefaultLease, ct).ConfigureAwait(false);
        await using (held.ConfigureAwait(false))
        {
            return await repo.CollectGarbageAsync(grace, ct).ConfigureAwait(false);
        }
    }
}
