namespace Blueback.Repository.Stores;

/// <summary>Where a repository's objects live: a local directory now, object storage next. Objects are whole
/// byte strings under slash-separated keys; writing one makes it durable before returning.</summary>
public interface IRepositoryStore
{
    string Location { get; }
    Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
    /// <summary>Writes under a temporary name, makes it durable, then renames: the object appears whole or not at all.</summary>
    Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
    Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken);
    /// <summary>Reads the object into <paramref name="buffer"/> (a caller's pooled buffer: no allocation per object);
    /// returns the object's whole length, which is more than was read when the buffer is too small.</summary>
    Task<long> ReadIntoAsync(string key, Memory<byte> buffer, CancellationToken cancellationToken);
    bool Exists(string key);
    IEnumerable<string> List(string prefix);
    void DeletePrefix(string prefix);
}
