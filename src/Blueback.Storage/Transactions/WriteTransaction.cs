using Blueback.Storage.BTree;

namespace Blueback.Storage.Transactions;

/// <summary>The one write transaction of an instance at a time (writers are serialized; commits are grouped).
/// Changes stay private until <see cref="Commit"/>; disposing without committing rolls back.</summary>
public sealed class WriteTransaction : IDisposable
{
    private readonly StorageInstance _instance;
    private readonly Dictionary<ushort, WriteView> _views = new();
    private readonly long _maxPrivateBytes;
    private bool _ended;

    internal WriteTransaction(StorageInstance instance, long maxPrivateBytes)
    {
        _instance = instance;
        _maxPrivateBytes = maxPrivateBytes;
    }

    internal IReadOnlyCollection<WriteView> Views => _views.Values;

    private WriteView View(Database db)
    {
        ObjectDisposedException.ThrowIf(_ended, this);
        TableAccess.CheckDatabase(_instance, db);
        _instance.ThrowIfUnusable();
        if (!_views.TryGetValue(db.Id, out var v))
        {
            v = new WriteView(_instance.Cache, db, _maxPrivateBytes);
            _views[db.Id] = v;
        }
        return v;
    }

    public void Put(Database db, string table, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        TableAccess.CheckKey(key);
        TableAccess.CheckValue(value);
        var v = View(db);
        var root = Catalog.Find(v, table) ?? Catalog.Create(v, table);
        BPlusTree.Put(v, root, key, value);
    }

    /// <summary>Removes a key; returns whether it was there.</summary>
    public bool Delete(Database db, string table, ReadOnlySpan<byte> key)
    {
        TableAccess.CheckKey(key);
        var v = View(db);
        var root = Catalog.Find(v, table);
        return root is not null && BPlusTree.Delete(v, root.Value, key);
    }

    public byte[]? Get(Database db, string table, ReadOnlySpan<byte> key)
    {
        TableAccess.CheckKey(key);
        var v = View(db);
        var root = Catalog.Find(v, table);
        return root is null ? null : BPlusTree.Get(v, root.Value, key);
    }

    public IEnumerable<KeyValuePair<byte[], byte[]>> Scan(Database db, string table, byte[]? from = null, byte[]? to = null, bool reverse = false)
    {
        var v = View(db);
        var root = Catalog.Find(v, table);
        // Materialized: the private pages may change under a lazy enumeration if the caller writes meanwhile.
        return root is null ? [] : BPlusTree.Scan(v, root.Value, from, to, reverse).ToList();
    }

    public List<KeyValuePair<byte[], byte[]>> Scan(Database db, string table, byte[]? from, byte[]? to, bool reverse, int limit)
    {
        var v = View(db);
        var root = Catalog.Find(v, table);
        return root is null ? [] : TableAccess.Page(BPlusTree.Scan(v, root.Value, from, to, reverse), limit);
    }

    public bool TableExists(Database db, string table) => Catalog.Find(View(db), table) is not null;

    public IReadOnlyList<string> Tables(Database db) => Catalog.List(View(db));

    /// <summary>Where the commit record ends in the log (zero before commit, or when nothing changed): restore
    /// can stop exactly after this transaction with <c>--stop-at</c> this position.</summary>
    public Format.Lsn CommitLsn { get; internal set; }

    /// <summary>The time written in the commit record (UTC); a restore stopping at this time includes it.</summary>
    public DateTime CommitTime { get; internal set; }

    /// <summary>Commits. Durable: returns once the commit is on disk. Lazy: returns at once.</summary>
    public void Commit(CommitMode mode = CommitMode.Durable)
    {
        _instance.WaitBounded(CommitCore(mode), "the commit's log flush", CancellationToken.None);
    }

    public async Task CommitAsync(CommitMode mode = CommitMode.Durable, CancellationToken cancellationToken = default)
    {
        var wait = CommitCore(mode);
        // Cancelling stops the wait, not the commit: it is already appended and will become durable.
        await wait.WaitAsync(_instance.Options.WaitTimeout, cancellationToken).ConfigureAwait(false);
    }

    private Task CommitCore(CommitMode mode)
    {
        ObjectDisposedException.ThrowIf(_ended, this);
        _ended = true;
        Format.Lsn end;
        try
        {
            end = _instance.Commit(this, mode);
        }
        finally
        {
            Release();
        }
        return _instance.WhenDurable(end, mode);
    }

    public void Rollback()
    {
        if (_ended)
        {
            return;
        }
        _ended = true;
        Release();
    }

    private void Release()
    {
        foreach (var v in _views.Values)
        {
            v.Release();
        }
        _views.Clear();
        _instance.ReleaseWriter();
    }

    public void Dispose() => Rollback();
}
