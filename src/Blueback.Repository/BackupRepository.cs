using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Blueback.Repository.Compression;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Repository;

/// <summary>What <c>repo gc</c> removed, and what it left because it may still be written.</summary>
public sealed class GcReport
{
    public List<string> Removed { get; } = [];
    public long RemovedBytes { get; set; }
    public List<string> Young { get; } = [];
    public List<string> StoreLeftovers { get; } = [];
    /// <summary>Format 2: chunks no set names any more, removed, and their bytes.</summary>
    public int ChunksRemoved { get; set; }
    public long ChunkBytesRemoved { get; set; }
    /// <summary>Immutable repository: forgotten sets still within the grace period, kept whole (restorable by id).</summary>
    public List<string> ForgottenKept { get; } = [];
    /// <summary>Immutable repository: sets and shipped generations gc would remove but whose objects are still locked.</summary>
    public List<string> LockedSets { get; } = [];
    /// <summary>Immutable repository: objects gc would remove that wait for their lock, their bytes, and when the
    /// first and the last of those locks expire.</summary>
    public int LockedObjects { get; set; }
    public long LockedBytes { get; set; }
    public DateTime? FirstUnlock { get; set; }
    public DateTime? LastUnlock { get; set; }

    /// <summary>Counts objects that wait for their lock until <paramref name="until"/>.</summary>
    public void Waiting(int objects, long bytes, DateTime until)
    {
        LockedObjects += objects;
        LockedBytes += bytes;
        FirstUnlock = FirstUnlock is { } f && f < until ? f : until;
        LastUnlock = LastUnlock is { } l && l > until ? l : until;
    }
    /// <summary>Format 2: chunks no set names yet that are too young to remove (a backup may be about to name them).</summary>
    public int ChunksYoung { get; set; }
    /// <summary>Format 2: chunks some set names, kept.</summary>
    public int ChunksInUse { get; set; }
}

/// <summary>A backup repository: <c>config.json</c> (id, format version, encryption) and <c>sets/SETID/</c> with,
/// once committed, <c>manifest.json</c>. Format 2 keeps chunks content-addressed under <c>chunks/</c>, shared by
/// every set and instance (dedup), optionally sealed with AES-256-GCM; format 1 kept each set's chunks in the set's
/// own folder, and is still read and written.</summary>
public sealed partial class BackupRepository
{
    /// <summary>The format new repositories get.</summary>
    public const int FormatVersion = 2;
    public const int OldestFormatVersion = 1;
    private const string ConfigKey = "config.json";

    private BackupRepository(IRepositoryStore store, RepositoryConfig config, RepositoryKeys? keys)
    {
        Store = store;
        Config = config;
        Keys = keys;
    }

    /// <summary>This repository's format: 2 (shared, content-addressed chunks) or 1 (chunks inside each set).</summary>
    public int Format => Config.FormatVersion;

    /// <summary>The keys of an encrypted repository; null when it is not encrypted.</summary>
    public RepositoryKeys? Keys { get; }

    public bool IsEncrypted => Config.Encryption is not null;

    public IRepositoryStore Store { get; }

    /// <summary>Chunk transfers in flight at once when writing a set or reading one back: what hides an object
    /// store's latency. Memory grows by one chunk (and its compressed copy) per transfer.</summary>
    public int Parallelism { get; set; } = 4;
    public RepositoryConfig Config { get; }
    public string Id => Config.Id;

    public static Task<BackupRepository> InitAsync(IRepositoryStore store, CancellationToken cancellationToken = default) =>
        InitAsync(store, FormatVersion, null, cancellationToken);

    public static Task<BackupRepository> InitAsync(IRepositoryStore store, int format, RepositorySecret? secret, CancellationToken cancellationToken = default) =>
        InitAsync(store, format, secret, null, cancellationToken);

    /// <summary>Creates a repository of <paramref name="format"/> (1 or 2), encrypted under <paramref name="secret"/>
    /// when one is given (format 2 only), immutable when <paramref name="immutable"/> is given (format 2 only; on S3
    /// the bucket must have Object Lock on).</summary>
    public static async Task<BackupRepository> InitAsync(IRepositoryStore store, int format, RepositorySecret? secret, ImmutabilityConfig? immutable, CancellationToken cancellationToken = default)
    {
        if (format is < OldestFormatVersion or > FormatVersion)
        {
            throw new RepositoryException($"There is no repository format {format}; this build writes formats {OldestFormatVersion} and {FormatVersion}.");
        }
        if (secret is not null && format < 2)
        {
            throw new RepositoryException("Encryption needs repository format 2 (the default).");
        }
        if (immutable is not null && format < 2)
        {
            throw new RepositoryException("An immutable repository needs repository format 2 (the default): format 1 rewrites nothing either, but was never built for locks.");
        }
        RefuseFile(store);
        if (await store.ExistsAsync(ConfigKey, cancellationToken).ConfigureAwait(false))
        {
            throw new RepositoryException($"'{store.Location}' already holds a repository; use it, or choose an empty location.");
        }
        if (immutable is not null)
        {
            store.UseRetention(new ObjectRetention(immutable.LockMode, immutable.Retention));
            await store.CheckRetentionAsync(cancellationToken).ConfigureAwait(false);
        }
        var config = new RepositoryConfig { Id = Guid.NewGuid().ToString("N"), FormatVersion = format, Created = DateTime.UtcNow, Immutable = immutable };
        RepositoryKeys? keys = null;
        if (secret is not null)
        {
            (keys, config.Encryption) = RepositoryKeys.Create(secret, config.Id);
        }
        await store.WriteAtomicAsync(ConfigKey, JsonSerializer.SerializeToUtf8Bytes(config, RepositoryJson.Default.RepositoryConfig), cancellationToken).ConfigureAwait(false);
        var repository = new BackupRepository(store, config, keys);
        await repository.StartChainAsync(cancellationToken).ConfigureAwait(false);
        return repository;
    }

    /// <summary>Changes the secret that opens an encrypted repository: its data key is rewrapped under
    /// <paramref name="newSecret"/> and the config replaced atomically; no chunk or manifest is rewritten.</summary>
    public async Task ChangeSecretAsync(RepositorySecret newSecret, CancellationToken cancellationToken = default)
    {
        if (Keys is null)
        {
            throw new RepositoryException($"Repository '{Store.Location}' is not encrypted, so it has no passphrase to change (encryption is chosen at 'blueback repo init --encrypt').");
        }
        if (Immutable is { } lockOf)
        {
            // config.json holds the wrapped key: a new secret would overwrite it, which an immutable repository never does.
            throw new RepositoryException($"Repository '{Store.Location}' is immutable ({lockOf}): its config.json, which holds the wrapped master key, is never rewritten, so its passphrase or key file cannot be changed. Copy it into a new repository with the new secret ('blueback repo copy --to NEW --to-key-file F').");
        }
        var config = new RepositoryConfig { Id = Config.Id, FormatVersion = Config.FormatVersion, Created = Config.Created, Encryption = Keys.Wrap(newSecret, Config.Id) };
        await Store.WriteAtomicAsync(ConfigKey, JsonSerializer.SerializeToUtf8Bytes(config, RepositoryJson.Default.RepositoryConfig), cancellationToken).ConfigureAwait(false);
        Config.Encryption = config.Encryption;
    }

    public static Task<BackupRepository> OpenAsync(IRepositoryStore store, CancellationToken cancellationToken = default) =>
        OpenAsync(store, null, cancellationToken);

    /// <summary>Opens a repository; an encrypted one needs <paramref name="secret"/> (a wrong one is a clear error).</summary>
    public static async Task<BackupRepository> OpenAsync(IRepositoryStore store, RepositorySecret? secret, CancellationToken cancellationToken = default)
    {
        RefuseFile(store);
        if (!await store.ExistsAsync(ConfigKey, cancellationToken).ConfigureAwait(false))
        {
            throw new RepositoryNotFoundException(store.Location, $"'{store.Location}' is not a Blueback repository (no {ConfigKey}); create one with 'blueback repo init'.");
        }
        RepositoryConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(await store.ReadAsync(ConfigKey, cancellationToken).ConfigureAwait(false), RepositoryJson.Default.RepositoryConfig);
        }
        catch (JsonException ex)
        {
            throw new RepositoryException(DamagedConfig(store, $"not valid JSON: {ex.Message}"));
        }
        if (config is null || string.IsNullOrEmpty(config.Id))
        {
            throw new RepositoryException(DamagedConfig(store, "it has no repository id"));
        }
        if (config.FormatVersion is < OldestFormatVersion or > FormatVersion)
        {
            throw new RepositoryException($"Repository '{store.Location}' has format version {config.FormatVersion}; this build of blueback reads versions {OldestFormatVersion} to {FormatVersion}. Use the blueback version that wrote it.");
        }
        RepositoryKeys? keys = null;
        if (config.Encryption is { } encryption)
        {
            if (secret is null)
            {
                throw new RepositoryException($"Repository '{store.Location}' is encrypted: give its key file (--key-file F) or set {RepositorySecret.PasswordVariable} to its passphrase.");
            }
            keys = RepositoryKeys.Unwrap(encryption, secret, config.Id, store.Location);
        }
        if (config.Immutable is { } immutable)
        {
            store.UseRetention(new ObjectRetention(immutable.LockMode, immutable.Retention));
        }
        return new BackupRepository(store, config, keys);
    }

    /// <summary>A local location that is a file: said so, not "not a repository; create one" (which then failed:
    /// "already exists").</summary>
    private static void RefuseFile(IRepositoryStore store)
    {
        if (store is LocalDirectoryStore && File.Exists(store.Location))
        {
            throw new RepositoryException($"'{store.Location}' is a file, not a repository (a repository is a directory, or an s3:// location). Give the repository's directory, or a path that does not exist yet to 'blueback repo init'.");
        }
    }

    /// <summary>The message for a config.json that cannot be read: which file, and how to get a good one back.</summary>
    private static string DamagedConfig(IRepositoryStore store, string what) =>
        $"The repository's config file '{store.Location}/{ConfigKey}' is damaged ({what}); nothing in the repository can be read without it. "
        + "Put back a copy of it (an encrypted repository's is its only copy of the wrapped master key: 'blueback repo key export' saves one), "
        + "or rebuild it from such an export with 'blueback repo init LOCATION --from-key FILE'. The sets and chunks are untouched.";

    public static string SetPrefix(string setId) => $"sets/{setId}";

    public static string ManifestKey(string setId) => $"{SetPrefix(setId)}/manifest.json";

    /// <summary>Committed sets, oldest first (by log position, then time). Sets without a manifest are not sets.</summary>
    public Task<List<Manifest>> ListSetsAsync(CancellationToken cancellationToken = default) => ListSetsAsync(false, cancellationToken);

    /// <summary>The committed sets and, in an immutable repository, the forgotten ones it still holds (hidden from
    /// listing, restorable by id until gc removes them once their lock expires): what a restore by id may name.</summary>
    public Task<List<Manifest>> ListSetsHeldAsync(CancellationToken cancellationToken = default) => ListSetsAsync(IsImmutable, cancellationToken);

    private async Task<List<Manifest>> ListSetsAsync(bool withForgotten, CancellationToken cancellationToken)
    {
        var list = new List<Manifest>();
        foreach (var id in await CommittedSetIdsAsync(cancellationToken, withForgotten).ConfigureAwait(false))
        {
            list.Add(await ReadManifestAsync(id, cancellationToken).ConfigureAwait(false));
        }
        return list.OrderBy(m => m.Instance, StringComparer.Ordinal).ThenBy(m => m.GenHigh).ThenBy(m => m.Ended).ToList();
    }

    /// <summary>The ids of the sets with a manifest, in the store's order.</summary>
    internal async Task<List<string>> CommittedSetIdsAsync(CancellationToken cancellationToken, bool withForgotten = false)
    {
        var ids = new List<string>();
        foreach (var dir in await Store.ListAsync("sets", cancellationToken).ConfigureAwait(false))
        {
            var id = dir["sets/".Length..];
            // An immutable repository's forgotten set keeps its manifest until gc may remove it: its tombstone hides it.
            if (await Store.ExistsAsync(ManifestKey(id), cancellationToken).ConfigureAwait(false)
                && (withForgotten || !IsImmutable || !await Store.ExistsAsync(ForgottenKey(id), cancellationToken).ConfigureAwait(false)))
            {
                ids.Add(id);
            }
        }
        return ids;
    }

    /// <summary>Reads and checks a manifest: its own checksum, this repository's id, a known format.</summary>
    public Task<Manifest> ReadManifestAsync(string setId, CancellationToken cancellationToken = default) =>
        ReadManifestAtAsync(ManifestKey(setId), setId, cancellationToken);

    private async Task<Manifest> ReadManifestAtAsync(string key, string setId, CancellationToken cancellationToken)
    {
        if (!await Store.ExistsAsync(key, cancellationToken).ConfigureAwait(false))
        {
            throw new RepositoryException($"Set {setId} does not exist in '{Store.Location}' (no committed manifest).");
        }
        var stored = await Store.ReadAsync(key, cancellationToken).ConfigureAwait(false);
        return ParseManifest(stored, key, setId);
    }

    /// <summary>A manifest from its stored bytes (opened first in an encrypted repository): its own checksum, this
    /// repository's id, a known format.</summary>
    internal Manifest ParseManifest(byte[] stored, string key, string setId)
    {
        var text = Keys is not null ? Keys.Open(stored, key) : stored;
        ManifestEnvelope? envelope;
        try
        {
            envelope = JsonSerializer.Deserialize(text, RepositoryJson.Default.ManifestEnvelope);
        }
        catch (JsonException ex)
        {
            throw new RepositoryException($"Set {setId}: the manifest '{key}' is damaged (not valid JSON: {ex.Message}).");
        }
        var raw = envelope!.Manifest.GetRawText();
        if (!string.Equals(Hex(SHA256.HashData(Encoding.UTF8.GetBytes(raw))), envelope.Sha256, StringComparison.Ordinal))
        {
            throw new RepositoryException($"Set {setId}: the manifest '{key}' fails its own SHA-256 checksum; it was changed or damaged.");
        }
        var m = envelope.Manifest.Deserialize(RepositoryJson.Default.Manifest)!;
        if (m.RepositoryId != Id)
        {
            throw new RepositoryException($"Set {setId} belongs to repository {m.RepositoryId}, not to this one ({Id}); it was copied in from elsewhere.");
        }
        if (m.FormatVersion != Format)
        {
            throw new RepositoryException($"Set {setId} has format version {m.FormatVersion} in a repository of format {Format}; it was copied in from elsewhere or written by another build.");
        }
        return m;
    }

    public static string VerifiedKey(string setId) => $"{SetPrefix(setId)}/{VerifiedMark}.json";

    /// <summary>Records the outcome of a verify of a set (shown by list).</summary>
    public Task RecordVerifiedAsync(string setId, bool ok, int problems, CancellationToken cancellationToken = default) =>
        Store.WriteAtomicAsync(NewMarkKey(setId, VerifiedMark), JsonSerializer.SerializeToUtf8Bytes(new VerifyRecord { Time = DateTime.UtcNow, Ok = ok, Problems = problems }, RepositoryJson.Default.VerifyRecord), cancellationToken);

    /// <summary>The last verify of a set, or null if it was never verified.</summary>
    public Task<VerifyRecord?> LastVerifiedAsync(string setId, CancellationToken cancellationToken = default) =>
        ReadMarkAsync(setId, VerifiedMark, RepositoryJson.Default.VerifyRecord, cancellationToken);

    /// <summary>A small record kept beside a set, or null if there is none; a damaged one only means "not known".</summary>
    private async Task<T?> ReadMarkAsync<T>(string setId, string mark, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken) where T : class
    {
        var key = IsImmutable ? await NewestMarkKeyAsync(setId, mark, cancellationToken).ConfigureAwait(false) : $"{SetPrefix(setId)}/{mark}.json";
        if (key is null || !await Store.ExistsAsync(key, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(await Store.ReadAsync(key, cancellationToken).ConfigureAwait(false), type);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string ProvedKey(string setId) => $"{SetPrefix(setId)}/{ProvedMark}.json";

    /// <summary>Records the outcome of a proof of a set (shown by list and the console).</summary>
    public Task RecordProvedAsync(string setId, ProofRecord proof, CancellationToken cancellationToken = default) =>
        Store.WriteAtomicAsync(NewMarkKey(setId, ProvedMark), JsonSerializer.SerializeToUtf8Bytes(proof, RepositoryJson.Default.ProofRecord), cancellationToken);

    /// <summary>The last proof of a set, or null if it was never proven (or its record is damaged).</summary>
    public Task<ProofRecord?> LastProvedAsync(string setId, CancellationToken cancellationToken = default) =>
        ReadMarkAsync(setId, ProvedMark, RepositoryJson.Default.ProofRecord, cancellationToken);

    public BackupSetWriter BeginSet(string setId, Codec codec, int chunkSize = BackupSetWriter.DefaultChunkSize, IReadOnlyDictionary<string, int>? knownChunks = null) =>
        new(this, setId, SetPrefix(setId), codec, chunkSize, knownChunks);

    /// <summary>How long a set without a manifest is left alone by <see cref="CollectGarbageAsync"/>: it may be a
    /// backup still being written (nothing stops a backup while gc runs), so only leftovers that stayed untouched
    /// this long are removed.</summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromHours(1);

    /// <summary>Removes what uncommitted or forgotten sets left behind (a set without a manifest whose newest object
    /// is older than <paramref name="grace"/>) and what interrupted writes left in the store.</summary>
    public async Task<GcReport> CollectGarbageAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        var report = new GcReport();
        var cutoff = Now - grace;
        // Format 2: the chunks are listed before any manifest is read, so a chunk that a set committed meanwhile
        // names is either in no listing (written after it) or named by a manifest read below.
        var chunkList = Format >= 2 ? await Store.ListObjectsAsync(ChunksRoot, cancellationToken).ConfigureAwait(false) : [];
        var scan = new GcScan(); // what stays, for the chunk sweep: read once here, not listed again
        foreach (var dir in await Store.ListAsync("sets", cancellationToken).ConfigureAwait(false))
        {
            var id = dir["sets/".Length..];
            bool forgotten = false;
            if (await Store.ExistsAsync(ManifestKey(id), cancellationToken).ConfigureAwait(false))
            {
                forgotten = IsImmutable && await Store.ExistsAsync(ForgottenKey(id), cancellationToken).ConfigureAwait(false);
                if (!forgotten)
                {
                    scan.Committed.Add((ManifestKey(id), id));
                    await CollectStaleMarksAsync(report, id, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }
            var objects = await Store.ListObjectsAsync(SetPrefix(id), cancellationToken).ConfigureAwait(false);
            // A forgotten set counts from when it was forgotten (a restore may still be reading it); any other from
            // its newest object (a backup may still be writing it).
            var tomb = objects.FirstOrDefault(o => o.Key == ForgottenKey(id));
            var since = tomb.Key is not null ? tomb.LastModified : objects.Count > 0 ? objects.Max(o => o.LastModified) : DateTime.MinValue;
            if (forgotten)
            {
                // Immutable: the forgotten set is whole until removed; its manifest names its chunks meanwhile.
                if (since > cutoff || !await TryRemoveLockedAsync(report, SetPrefix(id), id, objects, cancellationToken).ConfigureAwait(false))
                {
                    if (since > cutoff)
                    {
                        report.ForgottenKept.Add(id);
                    }
                    scan.Committed.Add((ManifestKey(id), id));
                    continue;
                }
                report.Removed.Add(id);
                report.RemovedBytes += objects.Sum(o => o.Size);
                continue;
            }
            if (since > cutoff)
            {
                report.Young.Add(id);
                scan.Uncommitted.Add((SetPrefix(id), ForgottenKey(id), ManifestKey(id), id, objects));
                continue;
            }
            if (!await TryRemoveLockedAsync(report, SetPrefix(id), id, objects, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }
            report.Removed.Add(id);
            report.RemovedBytes += objects.Sum(o => o.Size);
        }
        await CollectShippedGarbageAsync(report, cutoff, scan, cancellationToken).ConfigureAwait(false);
        if (Format >= 2)
        {
            await CollectChunksAsync(report, chunkList, grace, scan, cancellationToken).ConfigureAwait(false);
        }
        report.StoreLeftovers.AddRange(await Store.CleanUpAsync(grace, cancellationToken).ConfigureAwait(false));
        await CollectLockRecordsAsync(report, cancellationToken).ConfigureAwait(false);
        return report;
    }

    public static string ForgottenKey(string setId) => $"{SetPrefix(setId)}/forgotten.json";

    /// <summary>Forgets a set: a tombstone first (its time starts gc's grace), then the manifest, so the set stops
    /// existing at once while its chunks stay until 'repo gc' runs after the grace period (a restore reading it
    /// meanwhile still finds them). Safe to repeat after an interruption.</summary>
    public async Task ForgetAsync(string setId, CancellationToken cancellationToken = default)
    {
        if (IsImmutable)
        {
            await ForgetImmutableAsync(setId, cancellationToken).ConfigureAwait(false);
            return;
        }
        // The chain records the forget first: a stop before the manifest goes leaves a set that is still there and
        // marked forgotten (verify accepts that), never one gone without its forget. A repeat after the manifest went
        // records nothing again.
        if (await Store.ExistsAsync(ManifestKey(setId), cancellationToken).ConfigureAwait(false))
        {
            var stored = await Store.ReadAsync(ManifestKey(setId), cancellationToken).ConfigureAwait(false);
            await AppendChainAsync(Chain.ChainKinds.Forget, setId, Chain.RepositoryChain.HashOf(stored), cancellationToken).ConfigureAwait(false);
        }
        // Format 2 keeps the manifest in the tombstone: until the grace ends, gc counts the chunks it names.
        string? kept = Format >= 2 && await Store.ExistsAsync(ManifestKey(setId), cancellationToken).ConfigureAwait(false)
            ? Convert.ToBase64String(await Store.ReadAsync(ManifestKey(setId), cancellationToken).ConfigureAwait(false))
            : null;
        // A repeat after an interruption (the manifest already gone) keeps the tombstone written the first time.
        if (kept is not null || !await Store.ExistsAsync(ForgottenKey(setId), cancellationToken).ConfigureAwait(false))
        {
            var tomb = JsonSerializer.SerializeToUtf8Bytes(new Tombstone { Forgotten = Now, Manifest = kept }, RepositoryJson.Default.Tombstone);
            await Store.WriteAtomicAsync(ForgottenKey(setId), tomb, cancellationToken).ConfigureAwait(false);
        }
        await Store.DeleteAsync(ManifestKey(setId), cancellationToken).ConfigureAwait(false);
        foreach (var mark in new[] { VerifiedKey(setId), ProvedKey(setId) })
        {
            if (await Store.ExistsAsync(mark, cancellationToken).ConfigureAwait(false))
            {
                await Store.DeleteAsync(mark, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    internal static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexStringLower(b);
}
