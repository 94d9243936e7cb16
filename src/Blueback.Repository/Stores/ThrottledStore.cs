using System.Diagnostics;

namespace Blueback.Repository.Stores;

/// <summary>A bandwidth limit (<c>--max-rate</c>) around any store: the bytes written and read, by every transfer
/// in flight together, stay at or under the rate, with at most a quarter of a second of burst.</summary>
public sealed class ThrottledStore(IRepositoryStore inner, long bytesPerSecond) : IRepositoryStore
{
    private static readonly TimeSpan Burst = TimeSpan.FromMilliseconds(250);
    private readonly Lock _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _next;

    public string Location => inner.Location;
    public long BytesPerSecond => bytesPerSecond;

    /// <summary>Reserves the time <paramref name="bytes"/> take at the rate and waits until the reservation is due.</summary>
    private Task PaceAsync(long bytes, CancellationToken ct)
    {
        TimeSpan wait;
        lock (_lock)
        {
            var now = _clock.Elapsed;
            if (_next < now - Burst)
            {
                _next = now - Burst;
            }
            _next += TimeSpan.FromSeconds((double)bytes / bytesPerSecond);
            wait = _next - now;
        }
        return wait > TimeSpan.Zero ? Task.Delay(wait, ct) : Task.CompletedTask;
    }

    public async Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await PaceAsync(data.Length, cancellationToken).ConfigureAwait(false);
        await inner.WriteAsync(key, data, cancellationToken).ConfigureAwait(false);
    }

    public async Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await PaceAsync(data.Length, cancellationToken).ConfigureAwait(false);
        await inner.WriteAtomicAsync(key, data, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await PaceAsync(data.Length, cancellationToken).ConfigureAwait(false);
        return await inner.TryCreateAsync(key, data, cancellationToken).ConfigureAwait(false);
    }

    public async Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken)
    {
        var data = await inner.ReadAsync(key, cancellationToken).ConfigureAwait(false);
        await PaceAsync(data.Length, cancellationToken).ConfigureAwait(false);
        return data;
    }

    public async Task<long> ReadIntoAsync(string key, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await PaceAsync(buffer.Length, cancellationToken).ConfigureAwait(false);
        return await inner.ReadIntoAsync(key, buffer, cancellationToken).ConfigureAwait(false);
    }

    public Task SyncPrefixAsync(string prefix, CancellationToken cancellationToken) => inner.SyncPrefixAsync(prefix, cancellationToken);
    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => inner.ExistsAsync(key, cancellationToken);
    public Task<List<string>> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);
    public Task<List<StoredObject>> ListObjectsAsync(string prefix, CancellationToken cancellationToken) => inner.ListObjectsAsync(prefix, cancellationToken);
    public Task DeleteAsync(string key, CancellationToken cancellationToken) => inner.DeleteAsync(key, cancellationToken);
    public void UseRetention(ObjectRetention retention) => inner.UseRetention(retention);
    public Task CheckRetentionAsync(CancellationToken cancellationToken) => inner.CheckRetentionAsync(cancellationToken);
    public Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken) => inner.DeletePrefixAsync(prefix, cancellationToken);
    public Task<List<string>> CleanUpAsync(TimeSpan olderThan, CancellationToken cancellationToken) => inner.CleanUpAsync(olderThan, cancellationToken);
}
