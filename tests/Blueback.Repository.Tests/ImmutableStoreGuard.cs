using System.Collections.Concurrent;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>Real time moved on by <see cref="Ahead"/>: gc, forget and the maintenance lock read it (the objects'
/// write times stay real), so a test sees a lock expire without waiting for it.</summary>
internal sealed class TestClock : TimeProvider
{
    public TimeSpan Ahead { get; set; }

    public DateTimeOffset Now => DateTimeOffset.UtcNow + Ahead;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Plays S3 Object Lock over a local directory and records every breach of the immutable layout: a write
/// over an existing object (but a chunk written again with its same bytes, which on S3 adds a version and destroys
/// nothing) and a delete of an object younger than the retention by <see cref="Clock"/>. A refused delete throws
/// <see cref="ObjectLockedException"/>, as RGW's AccessDenied does.</summary>
internal sealed class ImmutableStoreGuard(IRepositoryStore inner, TimeSpan retention, TestClock clock) : DelegatingStore(inner)
{
    public ConcurrentQueue<string> Breaches { get; } = new();
    public TestClock Clock => clock;

    public override async Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await CheckOverwriteAsync(key, data, cancellationToken).ConfigureAwait(false);
        await Inner.WriteAsync(key, data, cancellationToken).ConfigureAwait(false);
    }

    public override async Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await CheckOverwriteAsync(key, data, cancellationToken).ConfigureAwait(false);
        await Inner.WriteAtomicAsync(key, data, cancellationToken).ConfigureAwait(false);
    }

    private async Task CheckOverwriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!await Inner.ExistsAsync(key, ct).ConfigureAwait(false))
        {
            return;
        }
        if (key.StartsWith("chunks/", StringComparison.Ordinal) && (await Inner.ReadAsync(key, ct).ConfigureAwait(false)).AsSpan().SequenceEqual(data.Span))
        {
            return;
        }
        Breaches.Enqueue($"overwrite of '{key}'");
        throw new ObjectLockedException(key, $"'{key}' is locked: it cannot be overwritten");
    }

    public override async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var o = (await Inner.ListObjectsAsync(key[..key.LastIndexOf('/')], cancellationToken).ConfigureAwait(false)).FirstOrDefault(x => x.Key == key);
        Refuse(o.Key is null ? [] : [o]);
        await Inner.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
    }

    public override async Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        Refuse(await Inner.ListObjectsAsync(prefix, cancellationToken).ConfigureAwait(false));
        await Inner.DeletePrefixAsync(prefix, cancellationToken).ConfigureAwait(false);
    }

    private void Refuse(List<StoredObject> objects)
    {
        var locked = objects.Where(o => o.LastModified + retention > clock.Now.UtcDateTime).ToList();
        if (locked.Count > 0)
        {
            Breaches.Enqueue($"delete of locked '{locked[0].Key}' ({locked.Count} locked)");
            throw new ObjectLockedException(locked[0].Key, $"'{locked[0].Key}' is locked");
        }
    }
}
