using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

/// <summary>One database of a set, restored alone into a scratch directory (the chain's images of it and its logs,
/// rolled forward to the stop point as any restore is) and open for reading: the source of a granular restore.
/// Disposing closes it and deletes the scratch directory, whatever happened.</summary>
public sealed class ScratchCopy : IDisposable
{
    private readonly string _root;
    private StorageInstance? _instance;

    private ScratchCopy(string root, RestoreResult restore)
    {
        _root = root;
        Restore = restore;
    }

    /// <summary>The restore into scratch: its report, bytes and time.</summary>
    public RestoreResult Restore { get; }

    /// <summary>The restored database, open.</summary>
    public Database Database { get; private set; } = null!;

    /// <summary>The restored instance, open (read through <see cref="StorageInstance.BeginRead"/>).</summary>
    public StorageInstance Instance => _instance!;

    /// <summary>Restores <paramref name="scope"/>'s database of <paramref name="chain"/> into a new directory under
    /// <paramref name="scratchRoot"/> and opens it; a table the database does not hold is refused, naming those it
    /// does. Nothing is left behind when this throws.</summary>
    public static async Task<ScratchCopy> RestoreAsync(BackupRepository repo, List<Manifest> chain, GranularScope scope, RestoreOptions options, string scratchRoot,
        IProgress<RestoreProgress>? progress, CancellationToken ct)
    {
        scope.CheckAgainst(chain);
        var root = Path.Combine(Path.GetFullPath(scratchRoot), $"blueback-granular-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        ScratchCopy? copy = null;
        try
        {
            // No play-forward beyond the chain's own logs: the scratch directory holds no others.
            var result = await RestoreJob.ToDirectoryAsync(repo, chain, root, chain[0].Instance, replace: false, options with { Database = scope.Database }, progress, ct).ConfigureAwait(false);
            copy = new ScratchCopy(root, result);
            copy._instance = StorageInstance.Open(result.Directory, new InstanceOptions { Name = $"{chain[0].Instance} (scratch)", SummarizeInBackground = false });
            copy.Database = copy._instance.GetDatabase(scope.Database);
            copy.CheckTable(scope, chain);
            return copy;
        }
        catch
        {
            if (copy is null)
            {
                DeleteQuietly(root);
            }
            copy?.Dispose();
            throw;
        }
    }

    private void CheckTable(GranularScope scope, List<Manifest> chain)
    {
        if (scope.Table is not { } table)
        {
            return;
        }
        using var r = Instance.BeginRead();
        if (!r.TableExists(Database, table))
        {
            var tables = r.Tables(Database);
            var asOf = Restore.Report.LastCommitTime is { } t ? $" as of {t:O}" : "";
            throw new GranularRestoreException($"table '{table}' is not in database '{scope.Database}' of set {chain[^1].SetId}{asOf}: it holds {(tables.Count == 0 ? "no table" : string.Join(", ", tables.Select(n => $"'{n}'")))}. Name one of those with --table.");
        }
    }

    /// <summary>The scope's tables, in name order: the one named, or every table of the database.</summary>
    public IReadOnlyList<string> Tables(GranularScope scope)
    {
        if (scope.Table is { } t)
        {
            return [t];
        }
        using var r = Instance.BeginRead();
        return r.Tables(Database).Order(StringComparer.Ordinal).ToList();
    }

    public void Dispose()
    {
        try
        {
            _instance?.Close();
        }
        finally
        {
            _instance = null;
            DeleteQuietly(_root);
        }
    }

    private static void DeleteQuietly(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left behind (a file held open by another process): it is named blueback-granular-* under the scratch root.
        }
    }
}
