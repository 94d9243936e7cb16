namespace Blueback.Repository.Stores;

/// <summary>A repository in a local directory. Keys map to files; durability is fsync of the file and its
/// directory.</summary>
public sealed class LocalDirectoryStore(string root) : IRepositoryStore
{
    public string Location { get; } = Path.GetFullPath(root);

    private string PathOf(string key)
    {
        if (key.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(key))
        {
            throw new ArgumentException($"Object key '{key}' is not a relative path inside the repository.", nameof(key));
        }
        return Path.Combine(Location, key.Replace('/', Path.DirectorySeparatorChar));
    }

    public async Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
        await using (fs.ConfigureAwait(false))
        {
            await fs.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            fs.Flush(flushToDisk: true);
        }
    }

    public async Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        var tmp = path + ".tmp";
        await WriteAsync(key + ".tmp", data, cancellationToken).ConfigureAwait(false);
        File.Move(tmp, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(path)!);
    }

    public Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken) => File.ReadAllBytesAsync(PathOf(key), cancellationToken);

    public async Task<long> ReadIntoAsync(string key, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        using var handle = File.OpenHandle(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        long length = RandomAccess.GetLength(handle);
        int want = (int)Math.Min(length, buffer.Length), done = 0;
        while (done < want)
        {
            int n = await RandomAccess.ReadAsync(handle, buffer[done..want], done, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            done += n;
        }
        return done == want ? length : done;
    }

    public bool Exists(string key) => File.Exists(PathOf(key));

    public IEnumerable<string> List(string prefix)
    {
        var dir = PathOf(prefix);
        if (!Directory.Exists(dir))
        {
            return [];
        }
        return Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetRelativePath(Location, p).Replace(Path.DirectorySeparatorChar, '/')).Order(StringComparer.Ordinal).ToList();
    }

    public void DeletePrefix(string prefix)
    {
        var dir = PathOf(prefix);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>fsync of a directory, so that a rename in it survives a crash.</summary>
    private static void SyncDirectory(string directory) => Blueback.Storage.FileSystem.SyncDirectory(directory);
}
