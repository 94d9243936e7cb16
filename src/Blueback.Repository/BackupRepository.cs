using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;

namespace Blueback.Repository;

/// <summary>What <c>repo gc</c> removed, and what it left because it may still be written.</summary>
public sealed class GcReport
{
    public List<string> Removed { get; } = [];
    public long RemovedBytes { get; set; }
    public List<string> Young { get; } = [];
    public List<string> StoreLeftovers { get; } = [];
}

/// <summary>A problem in a repository or a set, naming the object.</summary>
public sealed class RepositoryException : Exception
{
    public RepositoryException(string message) : base(message)
    {
    }

    public RepositoryException(string message, Exception inner) : base(message, inner)
    {
    }
}

/// <summary>A backup repository: <c>config.json</c> (id, format version) and <c>sets/SETID/</c> with chunks and,
/// once committed, <c>manifest.json</c>.</summary>
public sealed partial class BackupRepository
{
    public const int FormatVersion = 1;
    private const string ConfigKey = "config.json";

    private BackupRepository(IRepositoryStore store, RepositoryConfig config)
    {
        Store = store;
        Config = config;
    }

    public IRepositoryStore Store { get; }

    /// <summary>Chunk transfers in flight at once when writing a set or reading one back: what hides an object
    /// store's latency. Memory grows by one chunk (and its compressed copy) per transfer.</summary>
    public int Parallelism { get; set; } = 4;
    public RepositoryConfig Config { get; }
    public string Id => Config.Id;

    public static async Task<BackupRepository> InitAsync(IRepositoryStore store, CancellationToken cancellationToken = default)
    {
        if (await store.ExistsAsync(ConfigKey, cancellationToken).ConfigureAwait(false))
        {
            throw new RepositoryException($"'{store.Location}' already holds a repository; use it, or choose an empty location.");
        }
        var config = new RepositoryConfig { Id = Guid.NewGuid().ToString("N"), FormatVersion = FormatVersion, Created = DateTime.UtcNow };
        await store.WriteAtomicAsync(ConfigKey, JsonSerializer.SerializeToUtf8Bytes(config, RepositoryJson.Default.RepositoryConfig), cancellationToken).ConfigureAwait(false);
        return new BackupRepository(store, config);
    }

    public static async Task<BackupRepository> OpenAsync(IRepositoryStore store, CancellationToken cancellationToken = default)
    {
        if (!await store.ExistsAsync(ConfigKey, cancellationToken).ConfigureAwait(false))
        {
            throw new RepositoryException($"'{store.Location}' is not a Blueback repository (no {ConfigKey}); create one with 'blueback repo init'.");
        }
        RepositoryConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(await store.ReadAsync(ConfigKey, cancellationToken).ConfigureAwait(false), RepositoryJson.Default.RepositoryConfig);
        }
        catch (JsonException ex)
        {
            throw new RepositoryException($"'{store.Location}/{ConfigKey}' is damaged: {ex.Message}");
        }
        if (config is null || string.IsNullOrEmpty(config.Id))
        {
            throw new RepositoryException($"'{store.Location}/{ConfigKey}' has no repository id.");
        }
        if (config.FormatVersion != FormatVersion)
        {
            throw new RepositoryException($"Repository '{store.Location}' has format version {config.FormatVersion}; this build of blueback reads only version {FormatVersion}. Use the blueback version that wrote it.");
        }
        return new BackupRepository(store, config);
    }

    public static string SetPrefix(string setId) => $"sets/{setId}";

    public static string ManifestKey(string setId) => $"{SetPrefix(setId)}/manifest.json";

    /// <summary>Committed sets, oldest first (by log position, then time). Sets without a manifest are not sets.</summary>
    public async Task<List<Manifest>> ListSetsAsync(CancellationToken cancellationToken = default)
    {
        var list = new List<Manifest>();
        foreach (var dir in await Store.ListAsync("sets", cancellationToken).ConfigureAwait(false))
        {
            var id = dir["sets/".Length..];
            if (!await Store.ExistsAsync(ManifestKey(id), cancellationToken).ConfigureAwait(false))
            {
                continue;
            }
            list.Add(await ReadManifestAsync(id, cancellationToken).ConfigureAwait(false));
        }
        return list.OrderBy(m => m.Instance, StringComparer.Ordinal).ThenBy(m => m.GenHigh).ThenBy(m => m.Ended).ToList();
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
        ManifestEnvelope? envelope;
        try
        {
            envelope = JsonSerializer.Deserialize(await Store.ReadAsync(key, cancellationToken).ConfigureAwait(false), RepositoryJson.Default.ManifestEnvelope);
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
        if (m.FormatVersion != FormatVersion)
        {
            throw new RepositoryException($"Set {setId} has format version {m.FormatVersion}; this build reads version {FormatVersion}.");
        }
        return m;
    }

    public static string VerifiedKey(string setId) => $"{SetPrefix(setId)}/verified.json";

    /// <summary>Records the outcome of a verify of a set (shown by list).</summary>
    public Task RecordVerifiedAsync(string setId, bool ok, int problems, CancellationToken cancellationToken = default) =>
        Store.WriteAtomicAsync(VerifiedKey(setId), JsonSerializer.SerializeToUtf8Bytes(new VerifyRecord { Time = DateTime.UtcNow, Ok = ok, Problems = problems }, RepositoryJson.Default.VerifyRecord), cancellationToken);

    /// <summary>The last verify of a set, or null if it was never verified.</summary>
    public async Task<VerifyRecord?> LastVerifiedAsync(string setId, CancellationToken cancellationToken = default)
    {
        if (!await Store.ExistsAsync(VerifiedKey(setId), cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(await Store.ReadAsync(VerifiedKey(setId), cancellationToken).ConfigureAwait(false), RepositoryJson.Default.VerifyRecord);
        }
        catch (JsonException)
        {
            return null; // a damaged mark only means "not known to be verified"
        }
    }

    public BackupSetWriter BeginSet(string setId, Codec codec, int chunkSize = BackupSetWriter.DefaultChunkSize) => new(this, setId, SetPrefix(setId), codec, chunkSize);

    /// <summary>How long a set without a manifest is left alone by <see cref="CollectGarbageAsync"/>: it may be a
    /// backup still being written (nothing stops a backup while gc runs), so only leftovers that stayed untouched
    /// this long are removed.</summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromHours(1);

    /// <summary>Removes what uncommitted or forgotten sets left behind (a set without a manifest whose newest object
    /// is older than <paramref name="grace"/>) and what interrupted writes left in the store.</summary>
    public async Task<GcReport> CollectGarbageAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        var report = new GcReport();
        var cutoff = DateTime.UtcNow - grace;
        foreach (var dir in await Store.ListAsync("sets", cancellationToken).ConfigureAwait(false))
        {
            var id = dir["sets/".Length..];
            if (await Store.ExistsAsync(ManifestKey(id), cancellationToken).ConfigureAwait(false))
            {
                continue;
            }
            var objects = await Store.ListObjectsAsync(SetPrefix(id), cancellationToken).ConfigureAwait(false);
            // A forgotten set counts from when it was forgotten (a restore may still be reading it); any other from
            // its newest object (a backup may still be writing it).
            var tomb = objects.FirstOrDefault(o => o.Key == ForgottenKey(id));
            var since = tomb.Key is not null ? tomb.LastModified : objects.Count > 0 ? objects.Max(o => o.LastModified) : DateTime.MinValue;
            if (since > cutoff)
            {
                report.Young.Add(id);
                continue;
            }
            await Store.DeletePrefixAsync(SetPrefix(id), cancellationToken).ConfigureAwait(false);
            report.Removed.Add(id);
            report.RemovedBytes += objects.Sum(o => o.Size);
        }
        await CollectShippedGarbageAsync(report, cutoff, cancellationToken).ConfigureAwait(false);
        report.StoreLeftovers.AddRange(await Store.CleanUpAsync(grace, cancellationToken).ConfigureAwait(false));
        return report;
    }

    public static string ForgottenKey(string setId) => $"{SetPrefix(setId)}/forgotten.json";

    /// <summary>Forgets a set: a tombstone first (its time starts gc's grace), then the manifest, so the set stops
    /// existing at once while its chunks stay until 'repo gc' runs after the grace period (a restore reading it
    /// meanwhile still finds them). Safe to repeat after an interruption.</summary>
    public async Task ForgetAsync(string setId, CancellationToken cancellationToken = default)
    {
        var tomb = Encoding.UTF8.GetBytes($"{{\"forgotten\": \"{DateTime.UtcNow:O}\"}}\n");
        await Store.WriteAtomicAsync(ForgottenKey(setId), tomb, cancellationToken).ConfigureAwait(false);
        await Store.DeleteAsync(ManifestKey(setId), cancellationToken).ConfigureAwait(false);
        if (await Store.ExistsAsync(VerifiedKey(setId), cancellationToken).ConfigureAwait(false))
        {
            await Store.DeleteAsync(VerifiedKey(setId), cancellationToken).ConfigureAwait(false);
        }
    }

    internal static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexStringLower(b);
}
