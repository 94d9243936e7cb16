using System.Text.Json;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Repository;

/// <summary><c>repo key export</c> and <c>repo init --from-key</c>: config.json (the repository's id, format and, when
/// it is encrypted, its wrapped master key) is the only copy of what opens the repository. An export is that file; a
/// lost or damaged config.json is rebuilt from one.</summary>
public sealed partial class BackupRepository
{
    /// <summary>The repository's config as a key export: the id, the format and the wrapped master key (safe to store
    /// apart from the data: it opens nothing without the passphrase or key file).</summary>
    public byte[] ExportKey() => JsonSerializer.SerializeToUtf8Bytes(Config, RepositoryJson.Default.RepositoryConfig);

    /// <summary>Rebuilds a missing or damaged config.json from a key export: refused where a readable one is there, and
    /// checked first (an encrypted export must open with <paramref name="secret"/>, and every committed set must be this
    /// repository's) so that a wrong export changes nothing.</summary>
    public static async Task<BackupRepository> InitFromKeyAsync(IRepositoryStore store, byte[] export, string exportName, RepositorySecret? secret, CancellationToken cancellationToken = default)
    {
        RefuseFile(store);
        RepositoryConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(export, RepositoryJson.Default.RepositoryConfig);
        }
        catch (JsonException ex)
        {
            throw new RepositoryException($"'{exportName}' is not a repository key export ({ex.Message}); give the file 'blueback repo key export' wrote (a copy of the repository's config.json).");
        }
        if (config is null || string.IsNullOrEmpty(config.Id) || config.FormatVersion is < OldestFormatVersion or > FormatVersion)
        {
            throw new RepositoryException($"'{exportName}' is not a repository key export (no repository id, or an unknown format); give the file 'blueback repo key export' wrote.");
        }
        if (await store.ExistsAsync(ConfigKey, cancellationToken).ConfigureAwait(false))
        {
            RepositoryConfig? existing = null;
            try
            {
                existing = JsonSerializer.Deserialize(await store.ReadAsync(ConfigKey, cancellationToken).ConfigureAwait(false), RepositoryJson.Default.RepositoryConfig);
            }
            catch (JsonException)
            {
                // damaged: what --from-key is for
            }
            if (existing is { Id.Length: > 0 })
            {
                throw new RepositoryException($"'{store.Location}/{ConfigKey}' is readable (repository {existing.Id}): --from-key only rebuilds a missing or damaged one. Nothing was changed.");
            }
        }
        RepositoryKeys? keys = null;
        if (config.Encryption is { } encryption)
        {
            keys = RepositoryKeys.Unwrap(encryption, secret ?? throw new RepositoryException($"'{exportName}' is an encrypted repository's key: give its key file (--key-file F) or its passphrase in {RepositorySecret.PasswordVariable}, so that the rebuilt repository is checked to open."), config.Id, store.Location);
        }
        var repository = new BackupRepository(store, config, keys);
        await repository.ListSetsAsync(cancellationToken).ConfigureAwait(false); // each manifest names its repository: another's is refused here
        if (config.Immutable is { } immutable)
        {
            // Only a missing or damaged config.json is replaced; on S3 its locked versions stay.
            store.UseRetention(new ObjectRetention(immutable.LockMode, immutable.Retention));
        }
        await store.WriteAtomicAsync(ConfigKey, export, cancellationToken).ConfigureAwait(false);
        return repository;
    }
}
