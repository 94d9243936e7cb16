using System.Globalization;
using System.Text.Json;

namespace Blueback.Repository;

/// <summary>The maintenance lock of an immutable repository, where no object is deleted or rewritten: each maintainer
/// writes a claim once (<c>locks/claims/TICKS-OWNER.json</c>) and, when done, a release beside it
/// (<c>locks/released/OWNER.json</c>). A claim holds the lock when no other claim is live (neither released, expired,
/// nor of a process gone from this machine); otherwise the claimant withdraws (releases its own claim) and is refused. gc removes
/// claims and releases once their objects' locks and leases have passed.</summary>
public sealed partial class RepositoryLock
{
    private const string ClaimsRoot = $"{Root}/claims";
    private const string ReleasedRoot = $"{Root}/released";

    private static string ReleasedKey(string owner) => $"{ReleasedRoot}/{owner}.json";

    private static async Task<RepositoryLock> ClaimAsync(BackupRepository repository, LockRecord record, byte[] bytes, TimeSpan lease, CancellationToken ct)
    {
        var now = repository.Now;
        record.Acquired = now;
        record.Expires = now + lease;
        bytes = JsonSerializer.SerializeToUtf8Bytes(record, LockJson.Default.LockRecord);
        var key = $"{ClaimsRoot}/{now.Ticks.ToString("D19", CultureInfo.InvariantCulture)}-{record.Owner}.json";
        await repository.Store.TryCreateAsync(key, bytes, ct).ConfigureAwait(false);
        var mine = new RepositoryLock(repository, record, key);
        var claims = await repository.Store.ListObjectsAsync(ClaimsRoot, ct).ConfigureAwait(false);
        // Only claims written within a lease can still hold (an older one has expired whatever it says). Any other
        // live claim refuses this one, whichever is older: two claimants at once both withdraw (one reruns), never
        // both hold, even where clocks disagree on which came first.
        foreach (var claim in claims.Where(c => c.Key != key && c.LastModified > now - lease - BackupRepository.ClockMargin).OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var held = await ReadClaimAsync(repository, claim.Key, ct).ConfigureAwait(false);
            if (held is null || held.Expires <= now || HolderIsGone(held)
                || await repository.Store.ExistsAsync(ReleasedKey(held.Owner), ct).ConfigureAwait(false))
            {
                continue;
            }
            await mine.DisposeAsync().ConfigureAwait(false); // withdraw our claim
            throw Held(repository, held);
        }
        return mine;
    }

    private static async Task<LockRecord?> ReadClaimAsync(BackupRepository repository, string key, CancellationToken ct)
    {
        try
        {
            return JsonSerializer.Deserialize(await repository.Store.ReadAsync(key, ct).ConfigureAwait(false), LockJson.Default.LockRecord);
        }
        catch (Exception ex) when (ex is JsonException or FileNotFoundException or RepositoryException)
        {
            return null; // unreadable: it holds nothing
        }
    }

    private Task ReleaseClaimAsync(CancellationToken ct) =>
        _repository.Store.TryCreateAsync(ReleasedKey(_record.Owner), JsonSerializer.SerializeToUtf8Bytes(_record, LockJson.Default.LockRecord), ct);
}
