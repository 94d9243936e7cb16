using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>A store that passes every call to another: tests derive from it to hold or fail the calls they are about.</summary>
internal abstract class DelegatingStore(IRepositoryStore inner) : IRepositoryStore
{
    protected IRepositoryStore Inner => inner;

    public string Location => inner.Location;

    public virtual Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.WriteAsync(key, data, cancellationToken);

    public Task SyncPrefixAsync(string prefix, CancellationToken cancellationToken) => inner.SyncPrefixAsync(prefix, cancellationToken);

    public virtual Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.WriteAtomicAsync(key, data, cancellationToken);

    public virtual Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => inner.TryCreateAsync(key, data, cancellationToken);

    public Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken) => inner.ReadAsync(key, cancellationToken);

    public Task<long> ReadIntoAsync(string key, Memory<byte> buffer, CancellationToken cancellationToken) => inner.ReadIntoAsync(key, buffer, cancellationToken);

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => inner.ExistsAsync(key, cancellationToken);

    public Task<List<string>> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

    public Task<List<StoredObject>> ListObjectsAsync(string prefix, CancellationToken cancellationToken) => inner.ListObjectsAsync(prefix, cancellationToken);

    public virtual Task DeleteAsync(string key, CancellationToken cancellationToken) => inner.DeleteAsync(key, cancellationToken);

    public virtual Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken) => inner.DeletePrefixAsync(prefix, cancellationToken);

    public Task<List<string>> CleanUpAsync(TimeSpan olderThan, CancellationToken cancellationToken) => inner.CleanUpAsync(olderThan, cancellationToken);
}
