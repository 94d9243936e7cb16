using Blueback.Storage.BTree;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Transactions;

/// <summary>A consistent, read-only view of every database of an instance as of the newest durable commit when
/// it began. It never blocks writers and never sees a change committed after it began.</summary>
public sealed class ReadTransaction : IDisposable
{
    private readonly StorageInstance _instance;
    private readonly BufferCache _cache;
    private readonly Snapshots _snapshots;
    private bool _disposed;

    internal ReadTransaction(StorageInstance instance, BufferCache cache, Snapshots snapshots, long? at = null)
    {
        _instance = instance;
        _cache = cache;
        _snapshots = snapshots;
        Snapshot = at is { } s ? snapshots.RegisterAt(s) : snapshots.Register();
    }

    /// <summary>The commit sequence this transaction sees.</summary>
    public long Snapshot { get; }

    private SnapshotView View(Database db)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        TableAccess.CheckDatabase(_instance, db);
        _instance.ThrowIfUnusable();
        return new SnapshotView(_cache, db, Snapshot);
    }

    public byte[]? Get(Database db, string table, ReadOnlySpan<byte> key)
    {
        TableAccess.CheckKey(key);
        var v = View(db);
        var root = Catalog.Find(v, table);
        return root is null ? null : BPlusTree.Get(v, root.Value, key);
    }

    public bool TableExists(Database db, string table) => Catalog.Find(View(db), table) is not null;

    public IReadOnlyList<string> Tables(Database db) => Catalog.List(View(db));

    /// <summary>Keys in [from, to) in order (or reverse order); null bounds are open. Lazily read; use it
    /// before disposing the transaction.</summary>
    public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(Database db, string table, byte[]? from = null, byte[]? to = null, bool reverse = false)
    {
        var v = View(db);
        var root = Catalog.Find(v, table);
        return root is null ? [] : BPlusTree.Scan(v, root.Value, from, to, reverse);
    }

    public List<KeyValuePair<byte[], byte[]>> Scan(Database db, string table, byte[]? from, byte[]? to, bool reverse, int limit) =>
        TableAccess.Page(Scan(db, table, from, to, reverse), limit);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _snapshots.Release(Snapshot);
    }
}
