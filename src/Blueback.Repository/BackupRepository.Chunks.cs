using System.Text.Json;
using Blueback.Repository.Chunks;
using Blueback.Repository.Stores;

namespace Blueback.Repository;

public sealed partial class BackupRepository
{
    /// <summary>Format 2: where the shared, content-addressed chunks live.</summary>
    public const string ChunksRoot = "chunks";

    /// <summary>A set being written marks its place with this (format 2), refreshed while it runs.</summary>
    public static string PendingKey(string prefix) => $"{prefix}/pending.json";

    /// <summary>How much earlier than a running backup's start gc stops removing chunks: the margin for the clocks of
    /// the backup's machine and the store's to differ.</summary>
    public static readonly TimeSpan ClockMargin = TimeSpan.FromMinutes(5);

    /// <summary>The chunks the given committed manifests name, with their stored sizes: what a new set may reuse
    /// without writing. gc never removes them while those sets are committed, nor within the grace period after one
    /// is forgotten (its tombstone keeps the manifest).</summary>
    public static Dictionary<string, int> KnownChunks(IEnumerable<Manifest> sets)
    {
        var known = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var m in sets.Where(m => m.FormatVersion >= 2))
        {
            foreach (var c in m.Files.SelectMany(f => f.Chunks))
            {
                known[ChunkObject.IdOf(c.Key)] = c.StoredSize;
            }
        }
        return known;
    }

    /// <summary>The content hashes (SHA-256, 32 bytes each, concatenated) of chunks the committed sets hold, the newest
    /// sets of <paramref name="instance"/> first, at most <paramref name="max"/>: what a backup program tells the server,
    /// so that those chunks do not cross the wire again. Unencrypted, a chunk's id is its hash; encrypted, the manifests
    /// written since chunks were sent prepared keep it (older ones do not, and their chunks are sent again).</summary>
    public static byte[] KnownContentHashes(IEnumerable<Manifest> sets, string instance, bool encrypted, int max)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var hashes = new System.Buffers.ArrayBufferWriter<byte>();
        foreach (var m in sets.Where(m => m.FormatVersion >= 2).OrderBy(m => m.Instance == instance ? 0 : 1).ThenByDescending(m => m.Ended))
        {
            foreach (var c in m.Files.SelectMany(f => f.Chunks))
            {
                var hex = encrypted ? c.Hash : ChunkObject.IdOf(c.Key);
                if (seen.Count == max)
                {
                    return hashes.WrittenSpan.ToArray();
                }
                if (hex is { Length: 64 } && seen.Add(hex))
                {
                    Convert.FromHexString(hex, hashes.GetSpan(32), out _, out _);
                    hashes.Advance(32);
                }
            }
        }
        return hashes.WrittenSpan.ToArray();
    }

    /// <summary>Removes the chunks no set names (format 2): a chunk goes only when no committed set, no set forgotten
    /// within the grace, and no shipped generation names it, and it is older than the grace and than the start of
    /// every backup still being written. <paramref name="chunks"/> was listed before any manifest was read;
    /// <paramref name="scan"/> is what the set and shipped sweeps found staying.</summary>
    private async Task CollectChunksAsync(GcReport report, List<StoredObject> chunks, TimeSpan grace, GcScan scan, CancellationToken ct)
    {
        var cutoff = Now - grace;
        var named = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (manifestKey, id) in scan.Committed)
        {
            Name(named, await ReadForGcAsync(manifestKey, id, ct).ConfigureAwait(false));
        }
        foreach (var (prefix, tombKey, manifestKey, id, objects) in scan.Uncommitted)
        {
            if (tombKey is not null && objects.Any(o => o.Key == tombKey))
            {
                var t = JsonSerializer.Deserialize(await Store.ReadAsync(tombKey, ct).ConfigureAwait(false), RepositoryJson.Default.Tombstone);
                if (t?.Manifest is { } kept)
                {
                    Name(named, ParseOrExplain(Convert.FromBase64String(kept), manifestKey, id));
                }
            }
            else
            {
                cutoff = Earlier(cutoff, await PendingStartAsync(objects, prefix, grace, ct).ConfigureAwait(false));
            }
        }
        foreach (var chunk in chunks)
        {
            ct.ThrowIfCancellationRequested();
            if (named.Contains(chunk.Key))
            {
                report.ChunksInUse++;
            }
            else if (chunk.LastModified >= cutoff)
            {
                report.ChunksYoung++;
            }
            else if (await TryRemoveObjectAsync(report, chunk, ct).ConfigureAwait(false))
            {
                report.ChunksRemoved++;
                report.ChunkBytesRemoved += chunk.Size;
            }
        }
    }

    private static DateTime Earlier(DateTime a, DateTime? b) => b is { } x && x < a ? x : a;

    private static void Name(HashSet<string> named, Manifest m)
    {
        foreach (var c in m.Files.SelectMany(f => f.Chunks))
        {
            named.Add(c.Key);
        }
    }

    /// <summary>A manifest gc must understand: if it cannot be read, gc cannot know what it names and removes no chunk.</summary>
    private async Task<Manifest> ReadForGcAsync(string key, string setId, CancellationToken ct) =>
        ParseOrExplain(await Store.ReadAsync(key, ct).ConfigureAwait(false), key, setId);

    private Manifest ParseOrExplain(byte[] stored, string key, string setId)
    {
        try
        {
            return ParseManifest(stored, key, setId);
        }
        catch (RepositoryException ex)
        {
            throw new RepositoryException($"repo gc removed no chunk: {ex.Message} Without it gc cannot know which chunks that set needs; run 'blueback verify', then forget the damaged set (or restore its manifest) and run gc again.", ex);
        }
    }

    /// <summary>When a set still being written began (its pending mark, if touched within the grace); null for a
    /// leftover that nobody writes any more.</summary>
    private async Task<DateTime?> PendingStartAsync(List<StoredObject> objects, string prefix, TimeSpan grace, CancellationToken ct)
    {
        var mark = NewestPending(objects, prefix);
        if (mark.Key is null || mark.LastModified < Now - grace)
        {
            return null;
        }
        try
        {
            var p = JsonSerializer.Deserialize(await Store.ReadAsync(mark.Key, ct).ConfigureAwait(false), RepositoryJson.Default.PendingMark);
            return (p?.Started ?? mark.LastModified) - ClockMargin;
        }
        catch (JsonException)
        {
            return mark.LastModified - grace; // torn: it was written recently, so keep everything the grace covers
        }
    }

    /// <summary>What gc's set and shipped sweeps found staying: committed manifests (key, set id), and sets without a
    /// manifest still within the grace (prefix, tombstone key if it can have one, manifest key, id, their objects).</summary>
    private sealed class GcScan
    {
        public List<(string ManifestKey, string Id)> Committed { get; } = [];
        public List<(string Prefix, string? TombstoneKey, string ManifestKey, string Id, List<StoredObject> Objects)> Uncommitted { get; } = [];
    }

    internal static byte[] PendingBytes(DateTime started) => JsonSerializer.SerializeToUtf8Bytes(new PendingMark { Started = started }, RepositoryJson.Default.PendingMark);
}
