using System.Globalization;
using System.Text.Json;
using Blueback.Repository.Stores;

namespace Blueback.Repository;

/// <summary>An immutable repository (<c>repo init --immutable-days N</c>): nothing is overwritten in place or deleted
/// before its lock expires. Marks that a plain repository rewrites (pending, verified, proved) are new objects, each
/// written once, and readers take the newest; a forget is a tombstone written once beside the manifest, which stays;
/// gc removes only what no set needs and whose lock (its write time plus the retention) has passed.</summary>
public sealed partial class BackupRepository
{
    internal const string VerifiedMark = "verified";
    internal const string ProvedMark = "proved";
    internal const string PendingMark = "pending";

    /// <summary>The clock gc, forget and the maintenance lock read (tests move it past a lock's expiry).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    internal DateTime Now => Clock.GetUtcNow().UtcDateTime;

    /// <summary>The repository's lock settings; null when it is not immutable.</summary>
    public ImmutabilityConfig? Immutable => Config.Immutable;

    public bool IsImmutable => Config.Immutable is not null;

    /// <summary>Until when an object written at <paramref name="written"/> is locked: its write time plus the
    /// retention (what S3 set as its retain-until, give or take the clocks), so gc needs no GetObjectRetention.</summary>
    public DateTime LockedUntil(DateTime written) => Immutable is { } i ? written + i.Retention : DateTime.MinValue;

    /// <summary>Where a new mark of a set goes: <c>NAME.json</c>, rewritten each time, in a plain repository; a new
    /// <c>NAME-TICKS.json</c> each time in an immutable one (ticks of UTC, 19 digits, so names sort by time).</summary>
    internal string NewMarkKey(string setId, string mark) => NewMarkKeyAt(SetPrefix(setId), mark);

    internal string NewMarkKeyAt(string prefix, string mark) =>
        IsImmutable ? $"{prefix}/{mark}-{DateTime.UtcNow.Ticks.ToString("D19", CultureInfo.InvariantCulture)}.json" : $"{prefix}/{mark}.json";

    /// <summary>Whether <paramref name="key"/> is a mark named <paramref name="mark"/> of the set at <paramref name="prefix"/>, in either naming.</summary>
    internal static bool IsMarkKey(string key, string prefix, string mark) =>
        key == $"{prefix}/{mark}.json" || (key.StartsWith($"{prefix}/{mark}-", StringComparison.Ordinal) && key.EndsWith(".json", StringComparison.Ordinal));

    /// <summary>The newest mark of its kind (immutable naming): the greatest name, since names carry the time.</summary>
    private async Task<string?> NewestMarkKeyAsync(string setId, string mark, CancellationToken ct) =>
        (await Store.ListAsync(SetPrefix(setId), ct).ConfigureAwait(false)).Where(k => IsMarkKey(k, SetPrefix(setId), mark)).Max(StringComparer.Ordinal);

    /// <summary>The newest pending mark among a set's objects, in either naming (default when there is none).</summary>
    internal static StoredObject NewestPending(IEnumerable<StoredObject> objects, string prefix) =>
        objects.Where(o => IsMarkKey(o.Key, prefix, PendingMark)).OrderByDescending(o => o.Key, StringComparer.Ordinal).FirstOrDefault();

    /// <summary>Forget in an immutable repository: the chain's entry, then a tombstone created once beside the manifest,
    /// which stays (locked) until gc may remove the set; listing hides it, a restore by its id still reads it. A repeat
    /// after the tombstone exists does nothing; one stopped between the entry and the tombstone adds the entry again
    /// (harmless: a forget recorded twice).</summary>
    private async Task ForgetImmutableAsync(string setId, CancellationToken ct)
    {
        if (!await Store.ExistsAsync(ManifestKey(setId), ct).ConfigureAwait(false) || await Store.ExistsAsync(ForgottenKey(setId), ct).ConfigureAwait(false))
        {
            return;
        }
        var stored = await Store.ReadAsync(ManifestKey(setId), ct).ConfigureAwait(false);
        await AppendChainAsync(Chain.ChainKinds.Forget, setId, Chain.RepositoryChain.HashOf(stored), ct).ConfigureAwait(false);
        var tomb = JsonSerializer.SerializeToUtf8Bytes(new Tombstone { Forgotten = Now }, RepositoryJson.Default.Tombstone);
        await Store.TryCreateAsync(ForgottenKey(setId), tomb, ct).ConfigureAwait(false);
    }

    /// <summary>Removes what gc found removable under <paramref name="prefix"/> unless a lock still holds any of it (then
    /// it is counted as waiting, with when its last lock expires, and false returned). A store that refuses a delete
    /// for a lock (S3: AccessDenied on a locked version; clocks disagree) is counted the same way.</summary>
    private async Task<bool> TryRemoveLockedAsync(GcReport report, string prefix, string id, List<StoredObject> objects, CancellationToken ct)
    {
        if (IsImmutable && objects.Count > 0 && LockedUntil(objects.Max(o => o.LastModified)) is var until && until > Now)
        {
            report.LockedSets.Add(id);
            report.Waiting(objects.Count, objects.Sum(o => o.Size), until);
            return false;
        }
        try
        {
            await Store.DeletePrefixAsync(prefix, ct).ConfigureAwait(false);
            return true;
        }
        catch (ObjectLockedException)
        {
            report.LockedSets.Add(id);
            report.Waiting(objects.Count, objects.Sum(o => o.Size), objects.Count > 0 ? LockedUntil(objects.Max(o => o.LastModified)) : Now);
            return false;
        }
    }

    /// <summary>Removes one object gc found removable (a chunk no set names) unless its lock still holds it; false
    /// (and counted as waiting) when it does.</summary>
    private async Task<bool> TryRemoveObjectAsync(GcReport report, StoredObject o, CancellationToken ct)
    {
        if (IsImmutable && LockedUntil(o.LastModified) > Now)
        {
            report.Waiting(1, o.Size, LockedUntil(o.LastModified));
            return false;
        }
        try
        {
            await Store.DeleteAsync(o.Key, ct).ConfigureAwait(false);
            return true;
        }
        catch (ObjectLockedException)
        {
            report.Waiting(1, o.Size, LockedUntil(o.LastModified));
            return false;
        }
    }

    /// <summary>Immutable: a committed set's marks that nobody reads any more (its pending marks, every verified and
    /// proved mark but the newest), once unlocked. A plain repository rewrites or deletes them in place.</summary>
    private async Task CollectStaleMarksAsync(GcReport report, string setId, CancellationToken ct)
    {
        if (!IsImmutable)
        {
            return;
        }
        var prefix = SetPrefix(setId);
        var objects = await Store.ListObjectsAsync(prefix, ct).ConfigureAwait(false);
        var stale = objects.Where(o => IsMarkKey(o.Key, prefix, PendingMark)).ToList();
        foreach (var mark in new[] { VerifiedMark, ProvedMark })
        {
            stale.AddRange(objects.Where(o => IsMarkKey(o.Key, prefix, mark)).OrderByDescending(o => o.Key, StringComparer.Ordinal).Skip(1));
        }
        foreach (var o in stale.Where(o => LockedUntil(o.LastModified) <= Now))
        {
            await TryRemoveObjectAsync(report, o, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Immutable: the maintenance lock's claims and releases (each written once) that are unlocked and far
    /// past their lease.</summary>
    private async Task CollectLockRecordsAsync(GcReport report, CancellationToken ct)
    {
        if (!IsImmutable)
        {
            return;
        }
        int removed = 0;
        foreach (var o in await Store.ListObjectsAsync(RepositoryLock.Root, ct).ConfigureAwait(false))
        {
            // A release must outlive the lease of its claim, or the claim would read as held again.
            if (o.LastModified + RepositoryLock.DefaultLease * 2 < Now && LockedUntil(o.LastModified) <= Now
                && await TryRemoveObjectAsync(report, o, ct).ConfigureAwait(false))
            {
                removed++;
            }
        }
        if (removed > 0)
        {
            report.StoreLeftovers.Add($"{removed} expired maintenance lock record(s)");
        }
    }
}
