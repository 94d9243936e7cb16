using Blueback.Backup;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Server.Policies;

/// <summary>A policy's repository read in process, through the backup library the <c>blueback</c> program uses: whether it
/// exists, and its sets. Reading changes nothing in it, so it needs no child process of its own.</summary>
internal static class PolicyRepositories
{
    /// <summary>Whether the repository exists (has its <c>config.json</c>).</summary>
    /// <exception cref="RepositoryException">It exists but cannot be opened (damaged, a wrong key), or cannot be reached.</exception>
    public static async Task<bool> ExistsAsync(PolicyRepository repository, CancellationToken ct)
    {
        try
        {
            await UseAsync(repository, static (_, _) => Task.FromResult(0), ct).ConfigureAwait(false);
            return true;
        }
        catch (RepositoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The policy's sets, each marked whether its second repository (<c>copyTo</c>) lists it; the second
    /// repository's listing error, if any, does not keep the first's sets from the console.</summary>
    public static async Task<(List<PolicySetInfo> Sets, string? CopyListError)> SetsWithCopiesAsync(PolicyDefinition p, CancellationToken ct)
    {
        var sets = await SetsAsync(p, ct).ConfigureAwait(false);
        if (p.CopyTo is not { } copyTo)
        {
            return (sets, null);
        }
        try
        {
            var store = RepositoryStores.Open(copyTo.Location, PolicyCommands.S3(copyTo));
            try
            {
                var held = await RepositoryListing.HeldAsync(store, sets.Select(s => s.Id), ct).ConfigureAwait(false);
                sets.ForEach(s => s.Copied = held.Contains(s.Id));
            }
            finally
            {
                (store as IDisposable)?.Dispose();
            }
            return (sets, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            return (sets, $"the second repository '{copyTo.Location}' could not be listed: {ex.Message}");
        }
    }

    /// <summary>The instance's committed sets as the console shows them: type (with "+pages" for a changed-pages set),
    /// sizes, and the outcome of their last verify and proof.</summary>
    public static Task<List<PolicySetInfo>> SetsAsync(PolicyDefinition p, CancellationToken ct) =>
        UseAsync(p.Repository, async (repo, token) =>
        {
            var manifests = (await repo.ListSetsAsync(token).ConfigureAwait(false)).Where(m => m.Instance == p.Instance).ToList();
            var listed = await RepositoryListing.SetsAsync(repo, manifests, token).ConfigureAwait(false);
            return listed.Select(s => new PolicySetInfo
            {
                Id = s.Id,
                Type = s.Type + (s.ChangedSince is null ? "" : "+pages"),
                Parent = s.Parent,
                Ended = s.Ended,
                GenLow = s.GenLow,
                GenHigh = s.GenHigh,
                Size = s.Size,
                Stored = s.Stored,
                Verified = s.Verified?.Ok,
                VerifiedAt = s.Verified?.Time,
                Proved = s.Proved?.Ok,
                ProvedAt = s.Proved?.Time,
                DigestMatch = s.Proved?.DigestMatch,
            }).ToList();
        }, ct);

    /// <summary>The files of the set <paramref name="id"/> (a unique prefix of 8 or more will do), from its manifest.</summary>
    public static Task<PolicySetFiles> FilesAsync(PolicyDefinition p, string id, CancellationToken ct) =>
        UseAsync(p.Repository, async (repo, token) =>
        {
            var sets = (await repo.ListSetsAsync(token).ConfigureAwait(false)).Where(m => m.Instance == p.Instance).ToList();
            var m = SetIds.Resolve(sets, id);
            return new PolicySetFiles
            {
                Set = m.SetId,
                Files = m.Files.Select(f => new PolicySetFile { Path = f.Path, Size = f.Size, Chunks = f.Chunks.Count, Compressed = f.Chunks.Sum(c => (long)c.StoredSize) }).ToList(),
            };
        }, ct);

    /// <summary>The whole id of the set <paramref name="id"/> (a unique prefix of 8 or more will do) of the policy's instance.</summary>
    /// <exception cref="SetNotFoundException">No such set of that instance.</exception>
    /// <exception cref="AmbiguousSetIdException">The prefix names several.</exception>
    public static Task<string> ResolveAsync(PolicyDefinition p, string id, CancellationToken ct) =>
        UseAsync(p.Repository, async (repo, token) =>
            SetIds.Resolve((await repo.ListSetsAsync(token).ConfigureAwait(false)).Where(m => m.Instance == p.Instance).ToList(), id).SetId, ct);

    /// <summary>Opens the repository (with the policy's key file or passphrase, when encrypted) and keeps it open: the
    /// caller disposes <c>Store</c> when done with <c>Repository</c> (a mount reads chunks for as long as it is open).</summary>
    public static async Task<(IDisposable? Store, BackupRepository Repository)> OpenAsync(PolicyRepository repository, CancellationToken ct)
    {
        var store = RepositoryStores.Open(repository.Location, PolicyCommands.S3(repository));
        try
        {
            return (store as IDisposable, await BackupRepository.OpenAsync(store, RepositorySecret.FromKeyFileOrEnvironment(repository.KeyFile), ct).ConfigureAwait(false));
        }
        catch
        {
            (store as IDisposable)?.Dispose();
            throw;
        }
    }

    private static async Task<T> UseAsync<T>(PolicyRepository repository, Func<BackupRepository, CancellationToken, Task<T>> body, CancellationToken ct)
    {
        var (store, repo) = await OpenAsync(repository, ct).ConfigureAwait(false);
        using (store)
        {
            return await body(repo, ct).ConfigureAwait(false);
        }
    }
}
