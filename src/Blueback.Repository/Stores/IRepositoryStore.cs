namespace Blueback.Repository.Stores;

/// <summary>An object in a store: its key, size and when it was last written.</summary>
public readonly record struct StoredObject(string Key, long Size, DateTime LastModified);

/// <summary>Where a repository's objects live: a local directory or an S3-compatible bucket. Objects are whole
/// byte strings under slash-separated keys; writing one makes it durable and whole (or absent) before returning.
/// Every call takes a token and returns promptly when it fires.</summary>
public interface IRepositoryStore
{
    string Location { get; }

    /// <summary>Writes an object durably (a chunk: a crash may leave it torn, which is harmless because a set
    /// without its manifest does not exist).</summary>
    Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Makes the names of the objects written under <paramref name="prefix"/> durable as well (a local
    /// directory: fsync of it and of each directory above it, as POSIX asks beyond each file's own flush); nothing
    /// to do where a write is whole once acknowledged (S3).</summary>
    Task SyncPrefixAsync(string prefix, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Writes an object durably so that a reader sees all of it or none of it, even across a crash (a
    /// manifest, the repository's config).</summary>
    Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Creates an object only if no object has that key (a lock); false when one already exists.</summary>
    Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Reads the object into <paramref name="buffer"/> (a caller's pooled buffer: no allocation per object);
    /// returns the object's whole length, which is more than was read when the buffer is too small.</summary>
    Task<long> ReadIntoAsync(string key, Memory<byte> buffer, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);

    /// <summary>The keys directly under <paramref name="prefix"/> (objects and deeper prefixes alike, as
    /// "prefix/name"), in ordinal order.</summary>
    Task<List<string>> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Every object under <paramref name="prefix"/>, at any depth.</summary>
    Task<List<StoredObject>> ListObjectsAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Locks every object written from now on for <paramref name="retention"/> (an immutable repository).
    /// Nothing by default: a local directory cannot lock a file against its owner (docs/repository.md).</summary>
    void UseRetention(ObjectRetention retention)
    {
    }

    /// <summary>Refuses, naming the bucket and the remedy, a store that cannot lock objects though the repository
    /// asks for it (S3: a bucket without Object Lock). Nothing to check by default.</summary>
    Task CheckRetentionAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Removes an object; a store that locks objects throws <see cref="ObjectLockedException"/> for one still
    /// locked.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);

    Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Removes what interrupted writes left in the store itself (temporary files; unfinished multipart
    /// uploads older than <paramref name="olderThan"/>); returns a line per thing removed.</summary>
    Task<List<string>> CleanUpAsync(TimeSpan olderThan, CancellationToken cancellationToken);
}
