using Blueback.Repository.Compression;

namespace Blueback.Repository;

/// <summary>Where a shipped generation lives: <c>shipped/INSTANCE/LOGSIGNATURE/GENERATION</c> (8 hex digits), with
/// chunks and, once whole and durable, <c>manifest.json</c>: the same commit rule as a set's.</summary>
public readonly record struct ShippedKey(string Instance, string LogSignature, uint Generation)
{
    public string Prefix => $"{BackupRepository.ShippedRoot}/{Instance}/{LogSignature}/{Generation:X8}";

    /// <summary>How manifests, messages and restore records name the shipped generation.</summary>
    public string SetId => Prefix;

    public string ManifestKey => $"{Prefix}/manifest.json";

    /// <summary>Parses a key under the shipped root ("shipped/I/S/G/..."); false for anything else.</summary>
    public static bool TryParse(string key, out ShippedKey shipped, out string rest)
    {
        shipped = default;
        rest = "";
        var parts = key.Split('/', 5);
        if (parts.Length < 5 || parts[0] != BackupRepository.ShippedRoot || parts[3].Length != 8
            || !uint.TryParse(parts[3], System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var g))
        {
            return false;
        }
        shipped = new ShippedKey(parts[1], parts[2], g);
        rest = parts[4];
        return true;
    }
}

public sealed partial class BackupRepository
{
    public const string ShippedRoot = "shipped";

    /// <summary>The manifest type of a shipped generation.</summary>
    public const string ShippedType = "shipped";

    public BackupSetWriter BeginShipped(ShippedKey key, Codec codec, int chunkSize = BackupSetWriter.DefaultChunkSize, IReadOnlyDictionary<string, int>? knownChunks = null) =>
        new(this, key.SetId, key.Prefix, codec, chunkSize, knownChunks);

    /// <summary>The committed shipped generations (those with a manifest), of one instance or all, by instance, log
    /// stream and generation: one listing, no manifest read.</summary>
    public async Task<List<ShippedKey>> ListShippedAsync(string? instance, CancellationToken cancellationToken = default)
    {
        var prefix = instance is null ? ShippedRoot : $"{ShippedRoot}/{instance}";
        var found = new List<ShippedKey>();
        foreach (var o in await Store.ListObjectsAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (ShippedKey.TryParse(o.Key, out var k, out var rest) && rest == "manifest.json" && (instance is null || k.Instance == instance))
            {
                found.Add(k);
            }
        }
        return found.OrderBy(k => k.Instance, StringComparer.Ordinal).ThenBy(k => k.LogSignature, StringComparer.Ordinal).ThenBy(k => k.Generation).ToList();
    }

    /// <summary>Reads and checks a shipped generation's manifest (its checksum, this repository, its own place).</summary>
    public async Task<Manifest> ReadShippedAsync(ShippedKey key, CancellationToken cancellationToken = default)
    {
        var m = await ReadManifestAtAsync(key.ManifestKey, key.SetId, cancellationToken).ConfigureAwait(false);
        if (m.Type != ShippedType || m.Instance != key.Instance || m.LogSignature != key.LogSignature || m.GenLow != key.Generation || m.GenHigh != key.Generation)
        {
            throw new RepositoryException($"Shipped generation {key.SetId}: its manifest describes {m.Type} {m.Instance}/{m.LogSignature} generations {m.GenLow} to {m.GenHigh}, not what its place says; it was moved or damaged. Run 'blueback verify'.");
        }
        return m;
    }

    /// <summary>Reads many shipped manifests, several at once (an object store's latency), in the order given.</summary>
    public async Task<List<Manifest>> ReadShippedAsync(IReadOnlyList<ShippedKey> keys, CancellationToken cancellationToken = default)
    {
        var result = new Manifest[keys.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, keys.Count), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(4, Parallelism * 2), CancellationToken = cancellationToken },
            async (i, ct) => result[i] = await ReadShippedAsync(keys[i], ct).ConfigureAwait(false)).ConfigureAwait(false);
        return result.ToList();
    }

    /// <summary>Removes shipped generations that never got their manifest (a shipper stopped mid-upload) once
    /// untouched for <paramref name="grace"/>.</summary>
    private async Task CollectShippedGarbageAsync(GcReport report, DateTime cutoff, GcScan scan, CancellationToken cancellationToken)
    {
        var objects = await Store.ListObjectsAsync(ShippedRoot, cancellationToken).ConfigureAwait(false);
        foreach (var group in objects.Where(o => ShippedKey.TryParse(o.Key, out _, out _)).GroupBy(o => { ShippedKey.TryParse(o.Key, out var k, out _); return k; }))
        {
            if (group.Any(o => o.Key == group.Key.ManifestKey))
            {
                scan.Committed.Add((group.Key.ManifestKey, group.Key.SetId));
                // Immutable: a committed generation's pending marks stay at its commit; gone once unlocked.
                foreach (var mark in group.Where(o => IsImmutable && IsMarkKey(o.Key, group.Key.Prefix, PendingMark) && LockedUntil(o.LastModified) <= Now))
                {
                    await TryRemoveObjectAsync(report, mark, cancellationToken).ConfigureAwait(false);
                }
                continue;
            }
            if (group.Max(o => o.LastModified) > cutoff)
            {
                report.Young.Add(group.Key.SetId);
                scan.Uncommitted.Add((group.Key.Prefix, null, group.Key.ManifestKey, group.Key.SetId, group.ToList()));
                continue;
            }
            if (!await TryRemoveLockedAsync(report, group.Key.Prefix, group.Key.SetId, group.ToList(), cancellationToken).ConfigureAwait(false))
            {
                continue;
            }
            report.Removed.Add(group.Key.SetId);
            report.RemovedBytes += group.Sum(o => o.Size);
        }
    }
}
