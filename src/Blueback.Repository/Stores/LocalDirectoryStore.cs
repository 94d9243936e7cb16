using Blueback.IO;

namespace Blueback.Repository.Stores;

/// <summary>A repository in a local directory. Keys map to files, each flushed when written; an atomic write goes
/// under a temporary name, is flushed, and renamed into place (then the directory is flushed).</summary>
public sealed class LocalDirectoryStore(string root) : IRepositoryStore
{
    private const string TempSuffix = ".tmp";

    public string Location { get; } = Path.GetFullPath(root);

    private string PathOf(string key)
    {
        if (key.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(key))
        {
            throw new ArgumentException($"Object key '{key}' is not a relative path inside the repository.", nameof(key));
        }
        return Path.Combine(Location, key.Replace('/', Path.DirectorySeparatorChar));
    }

    private string KeyOf(string path) => Path.GetRelativePath(Location, path).Replace(Path.DirectorySeparatorChar, '/');

    /// <summary>Chunks are written around the page cache (<see cref="DirectFileWriter"/>): a backup writes
    /// gigabytes nobody reads back soon, and pushing them through the cache both costs more than the disk here and
    /// evicts the server's working set.</summary>
    public async Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // A write and its flush block for milliseconds: on the dedicated I/O threads, not the pool's few (the chunks
        // being compressed and received need those). Created new, never truncated in place: a file already there (two
        // sets writing the same shared chunk at once, one of them perhaps committed) is replaced whole by a rename, so
        // that neither a reader nor a power cut ever meets a committed chunk truncated (found by the power-cut tests).
        bool created = await IoThreads.Shared.RunAsync(() =>
        {
            try
            {
                DirectFileWriter.WriteFile(path, data.Span, createNew: true);
                return true;
            }
            catch (FileExistsException)
            {
                return false;
            }
        }, cancellationToken).ConfigureAwait(false);
        if (!created)
        {
            await WriteAtomicAsync(key, data, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task SyncPrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        // The directory, then each one above it up to and including the repository's root: a new directory's own entry
        // lives in its parent (sets/ID/chunks in sets/ID, sets/ID in sets, sets and chunks in the root). The root was
        // left out, so the first set's sets/ and chunks/ were never durable: a power cut after its commit lost it
        // (found by the power-cut tests, PowerCutTests.A_set_committed_just_before_a_power_cut_is_listed).
        var root = Location.TrimEnd(Path.DirectorySeparatorChar);
        for (var dir = PathOf(prefix).TrimEnd(Path.DirectorySeparatorChar); dir.Length >= root.Length && Directory.Exists(dir); dir = Path.GetDirectoryName(dir)!)
        {
            cancellationToken.ThrowIfCancellationRequested();
            FileSystem.SyncDirectory(dir);
            if (dir.Length == root.Length)
            {
                break;
            }
        }
        return Task.CompletedTask;
    }

    public async Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        // A temporary name of its own: two writers of one key at once (two verifies recording their result) each
        // rename a whole file into place, the last one winning, where one shared name failed the second writer.
        var tmp = $"{path}.{Guid.NewGuid():N}{TempSuffix}";
        try
        {
            await WriteFileAsync(tmp, FileMode.CreateNew, data, cancellationToken).ConfigureAwait(false);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        FileSystem.SyncDirectory(dir);
    }

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // Written whole under a temporary name, then given its name in one atomic step only if the name is free: a
        // reader never sees it half written (a chain entry read while being created would be chained onto by a wrong
        // hash), a crash never leaves it torn, and of two writers at once exactly one wins (File.Move without
        // overwrite checks and then renames: on FUSE both won, the later replacing the earlier).
        var tmp = $"{path}.{Guid.NewGuid():N}{TempSuffix}";
        await WriteFileAsync(tmp, FileMode.CreateNew, data, cancellationToken).ConfigureAwait(false);
        bool created;
        try
        {
            created = FileSystem.TryMoveNew(tmp, path);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
        if (!created)
        {
            File.Delete(tmp);
            return false;
        }
        FileSystem.SyncDirectory(Path.GetDirectoryName(path)!);
        return true;
    }

    private static async Task WriteFileAsync(string path, FileMode mode, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var fs = new FileStream(path, mode, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
        await using (fs.ConfigureAwait(false))
        {
            await fs.WriteAsync(data, ct).ConfigureAwait(false);
            await fs.FlushAsync(ct).ConfigureAwait(false);
            FileSystem.DataSync(fs.SafeFileHandle, path);
        }
    }

    public Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken) => File.ReadAllBytesAsync(PathOf(key), cancellationToken);

    public Task<long> ReadIntoAsync(string key, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        // Around the page cache (a chunk is read once), on the dedicated I/O threads like the writes.
        return IoThreads.Shared.RunAsync(() => DirectFileReader.ReadFile(path, buffer.Span), cancellationToken);
    }

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => Task.FromResult(File.Exists(PathOf(key)));

    public Task<List<string>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var dir = PathOf(prefix);
        return Task.FromResult(!Directory.Exists(dir)
            ? []
            : Directory.EnumerateFileSystemEntries(dir).Where(p => !p.EndsWith(TempSuffix, StringComparison.Ordinal)).Select(KeyOf).Order(StringComparer.Ordinal).ToList());
    }

    public Task<List<StoredObject>> ListObjectsAsync(string prefix, CancellationToken cancellationToken)
    {
        var dir = PathOf(prefix);
        var objects = new List<StoredObject>();
        if (Directory.Exists(dir))
        {
            // A write in flight is not an object yet (as in ListAsync), and a file may be renamed or removed between
            // the directory's listing and its stat (an atomic write finishing, a set being removed): such a file is
            // skipped, never an error for the lister (a standby once failed here on a shipper's manifest.json.tmp).
            foreach (var path in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                if (path.EndsWith(TempSuffix, StringComparison.Ordinal))
                {
                    continue;
                }
                var file = new FileInfo(path);
                if (file.Exists) // stats once; Length and the time below read what this stat cached
                {
                    objects.Add(new StoredObject(KeyOf(file.FullName), file.Length, file.LastWriteTimeUtc));
                }
            }
        }
        return Task.FromResult(objects.OrderBy(o => o.Key, StringComparer.Ordinal).ToList());
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    public Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        var dir = PathOf(prefix);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
        return Task.CompletedTask;
    }

    public Task<List<string>> CleanUpAsync(TimeSpan olderThan, CancellationToken cancellationToken)
    {
        var removed = new List<string>();
        if (Directory.Exists(Location))
        {
            foreach (var f in Directory.EnumerateFiles(Location, "*" + TempSuffix, SearchOption.AllDirectories).Where(f => File.GetLastWriteTimeUtc(f) < DateTime.UtcNow - olderThan))
            {
                File.Delete(f);
                removed.Add($"temporary file {KeyOf(f)}");
            }
        }
        return Task.FromResult(removed);
    }
}
