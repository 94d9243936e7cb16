using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace Blueback.Repository.Chain;

/// <summary>An entry as stored: its key, the sequence number its name gives, the SHA-256 of its stored bytes (what
/// the next entry's <see cref="ChainEntry.Prev"/> names), and the entry, or why it could not be read.</summary>
public sealed record StoredEntry(string Key, long NameSeq, string Hash, ChainEntry? Entry, string? Error);

/// <summary>The repository's hash chain under <c>chain/</c>: one object per entry, named by its sequence number and
/// created only if absent (an exclusive create on a directory, <c>If-None-Match: *</c> on S3). Two commits that
/// race for the same number do not fork the chain: one create fails, and that commit reads the new tip and tries
/// the next number. The entry is read back after its create, so a store that ignores the condition (and lets the
/// later write win) is caught where the race is seen; see docs/repository.md for what is left.</summary>
internal sealed class RepositoryChain(BackupRepository repository)
{
    public const string Root = "chain";
    private const int MaxAttempts = 64;
    private readonly Lock _gate = new();
    private ChainHead? _hint; // the last entry this process wrote or found; only a hint (entries are create-only)

    private ChainHead? Hint
    {
        get { lock (_gate) { return _hint; } }
        set { lock (_gate) { _hint = value; } }
    }

    public static string EntryKey(long seq) => $"{Root}/{seq.ToString("D12", CultureInfo.InvariantCulture)}.json";

    /// <summary>The sequence number a key under <c>chain/</c> names; false for anything that is not an entry's name.</summary>
    public static bool TryParseKey(string key, out long seq)
    {
        seq = 0;
        var name = key.StartsWith(Root + "/", StringComparison.Ordinal) ? key[(Root.Length + 1)..] : "";
        return name.Length == 17 && name.EndsWith(".json", StringComparison.Ordinal)
            && long.TryParse(name.AsSpan(0, 12), NumberStyles.None, CultureInfo.InvariantCulture, out seq) && seq > 0;
    }

    /// <summary>Appends an entry after the current tip, starting the chain first (with a baseline of what the
    /// repository holds, but the set this entry is for) where there is none; returns the new head.</summary>
    public async Task<ChainHead> AppendAsync(string kind, string? set, string? manifestHash, CancellationToken ct)
    {
        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            // The tip this process last saw, moved forward past whatever others appended since (a GET each); a listing
            // only the first time: a shipper appending for weeks never lists the whole chain again.
            // The first try takes the hint as the tip as it is (no request: a shipper's usual case, where only it
            // appends); a taken number then costs one GET per entry others added.
            var tip = Hint is not { } known ? await TipAsync(ct).ConfigureAwait(false)
                : attempt == 0 ? known : await FollowAsync(known, ct).ConfigureAwait(false);
            var entry = tip is null
                ? new ChainEntry { Seq = 1, Kind = ChainKinds.Genesis, Baseline = (await BaselineAsync(ct).ConfigureAwait(false)).Where(i => i.Set != set).ToList() }
                : new ChainEntry { Seq = tip.Value.Seq + 1, Prev = tip.Value.Hash, Kind = kind, Set = set, Manifest = manifestHash };
            entry.Repository = repository.Id;
            entry.Time = DateTime.UtcNow;
            var key = EntryKey(entry.Seq);
            var bytes = Encode(entry, key);
            if (await repository.Store.TryCreateAsync(key, bytes, ct).ConfigureAwait(false)
                && (await repository.Store.ReadAsync(key, ct).ConfigureAwait(false)).AsSpan().SequenceEqual(bytes))
            {
                var head = new ChainHead(entry.Seq, HashOf(bytes));
                Hint = head;
                if (tip is null && kind != ChainKinds.Genesis)
                {
                    attempt--; // the chain began; now the entry itself
                    continue;
                }
                return head;
            }
            Hint = tip; // that number is taken now: the next attempt reads on from here
            // Another commit took that number: read the new tip and try the next one, after a short random wait so
            // that racing writers spread out.
            await Task.Delay(Random.Shared.Next(2, 10 + 10 * Math.Min(attempt, 20)), ct).ConfigureAwait(false);
        }
        throw new RepositoryException($"Repository '{repository.Store.Location}': could not add a {kind} entry{(set is null ? "" : $" for {set}")} to its chain under {Root}/ after {MaxAttempts} attempts (other commits took every number tried). The {(kind == ChainKinds.Forget ? "forget" : "commit")} itself is done; run 'blueback verify', which names what the chain lacks.");
    }

    /// <summary>The tip, from one this process knew: each entry after it that exists now is read for its hash.</summary>
    private async Task<ChainHead> FollowAsync(ChainHead known, CancellationToken ct)
    {
        var tip = known;
        while (await repository.Store.ExistsAsync(EntryKey(tip.Seq + 1), ct).ConfigureAwait(false))
        {
            tip = new ChainHead(tip.Seq + 1, HashOf(await repository.Store.ReadAsync(EntryKey(tip.Seq + 1), ct).ConfigureAwait(false)));
        }
        return tip;
    }

    /// <summary>The last entry's number and hash (from its name and stored bytes: a damaged tip is still chained
    /// onto, and verify names it); null when the repository has no chain yet.</summary>
    public async Task<ChainHead?> TipAsync(CancellationToken ct)
    {
        var keys = await repository.Store.ListAsync(Root, ct).ConfigureAwait(false);
        long best = 0;
        foreach (var k in keys)
        {
            if (TryParseKey(k, out var seq) && seq > best)
            {
                best = seq;
            }
        }
        if (best == 0)
        {
            return null;
        }
        return new ChainHead(best, HashOf(await repository.Store.ReadAsync(EntryKey(best), ct).ConfigureAwait(false)));
    }

    /// <summary>Every object under <c>chain/</c>, in order of the number its name gives (objects that are not
    /// entries' names last, with an error).</summary>
    public async Task<List<StoredEntry>> ReadAllAsync(CancellationToken ct)
    {
        var result = new List<StoredEntry>();
        foreach (var o in await repository.Store.ListObjectsAsync(Root, ct).ConfigureAwait(false))
        {
            var bytes = await repository.Store.ReadAsync(o.Key, ct).ConfigureAwait(false);
            if (!TryParseKey(o.Key, out var seq))
            {
                result.Add(new StoredEntry(o.Key, long.MaxValue, HashOf(bytes), null, "its name is not an entry's (chain/NNNNNNNNNNNN.json): it was put there by something other than blueback"));
                continue;
            }
            try
            {
                var text = repository.Keys is { } keys ? keys.Open(bytes, o.Key) : bytes;
                var entry = JsonSerializer.Deserialize(text, RepositoryJson.Default.ChainEntry) ?? throw new JsonException("empty");
                result.Add(new StoredEntry(o.Key, seq, HashOf(bytes), entry, null));
            }
            catch (Exception ex) when (ex is JsonException or RepositoryException)
            {
                result.Add(new StoredEntry(o.Key, seq, HashOf(bytes), null, ex is JsonException ? $"not valid JSON ({ex.Message})" : ex.Message));
            }
        }
        return result.OrderBy(e => e.NameSeq).ThenBy(e => e.Key, StringComparer.Ordinal).ToList();
    }

    /// <summary>Every committed set and shipped generation with the hash of its manifest as stored: what a genesis
    /// entry records, and what verify compares the chain with.</summary>
    public async Task<List<ChainItem>> BaselineAsync(CancellationToken ct)
    {
        var items = new List<ChainItem>();
        foreach (var id in await repository.CommittedSetIdsAsync(ct).ConfigureAwait(false))
        {
            items.Add(new ChainItem { Set = id, Manifest = HashOf(await repository.Store.ReadAsync(BackupRepository.ManifestKey(id), ct).ConfigureAwait(false)) });
        }
        foreach (var shipped in await repository.ListShippedAsync(null, ct).ConfigureAwait(false))
        {
            items.Add(new ChainItem { Set = shipped.SetId, Manifest = HashOf(await repository.Store.ReadAsync(shipped.ManifestKey, ct).ConfigureAwait(false)) });
        }
        return items;
    }

    private byte[] Encode(ChainEntry entry, string key)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(entry, RepositoryJson.Default.ChainEntry);
        return repository.Keys is { } keys ? keys.Seal(json, key) : json;
    }

    public static string HashOf(ReadOnlySpan<byte> stored) => Convert.ToHexStringLower(SHA256.HashData(stored));
}
