using Blueback.Storage.BTree;
using Blueback.Storage.Format;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Transactions;

/// <summary>A database's pages at a reader's snapshot.</summary>
internal sealed class SnapshotView(BufferCache cache, Database db, long snapshot) : IPageReader
{
    public int PageSize => db.PageSize;
    public byte[] Read(uint page) => cache.Read(db.Id, page, snapshot);
}

/// <summary>A private copy of a page in a write transaction, with the committed version it started from.</summary>
internal sealed class PrivatePage(byte[] data, Frame? baseFrame, byte[]? baseData)
{
    public readonly byte[] Data = data;
    public readonly Frame? Base = baseFrame;
    public readonly byte[]? BaseData = baseData;
}

/// <summary>A database's pages as the write transaction sees them: its own changes over the newest commits.</summary>
internal sealed class WriteView : IPageWriter
{
    private readonly BufferCache _cache;
    private readonly long _maxPrivateBytes;

    public WriteView(BufferCache cache, Database db, long maxPrivateBytes)
    {
        _cache = cache;
        Database = db;
        _maxPrivateBytes = maxPrivateBytes;
    }

    public Database Database { get; }
    public Dictionary<uint, PrivatePage> Pages { get; } = new();
    public int PageSize => Database.PageSize;
    /// <summary>The database's, copied at first use: a view that writes no long value copies nothing.</summary>
    public PieceSpace Pieces => _pieces ??= Database.PieceSpace.Clone();

    /// <summary>Whether <see cref="Pieces"/> was used, and so has to become the database's at commit.</summary>
    public bool PiecesChanged => _pieces is not null;

    private PieceSpace? _pieces;

    public byte[] Read(uint page) =>
        Pages.TryGetValue(page, out var p) ? p.Data : _cache.Read(Database.Id, page, long.MaxValue);

    public byte[] Write(uint page)
    {
        if (Pages.TryGetValue(page, out var p))
        {
            return p.Data;
        }
        CheckSize();
        var frame = _cache.Pin(Database.Id, page);
        byte[] baseData;
        try
        {
            baseData = _cache.Read(Database.Id, page, long.MaxValue);
        }
        catch
        {
            _cache.Unpin(frame);
            throw;
        }
        var copy = (byte[])baseData.Clone();
        Pages[page] = new PrivatePage(copy, frame, baseData);
        return copy;
    }

    public uint Allocate(PageType type)
    {
        var root = Write(FormatConstants.SpaceRootPage);
        uint head = SpaceRoot.FreeHead(root);
        uint page;
        byte[] data;
        if (head != 0)
        {
            page = head;
            data = Write(page);
            var h = PageHeader.Read(data);
            if (h.Type != PageType.Free)
            {
                throw new PageCorruptException(Database.Path, page, $"the free-page list names this page but it is a {h.Type} page");
            }
            SpaceRoot.SetFreeHead(root, h.Next);
            SpaceRoot.SetFreeCount(root, SpaceRoot.FreeCount(root) - 1);
            Array.Clear(data);
        }
        else
        {
            page = SpaceRoot.PageCount(root);
            if (page == uint.MaxValue)
            {
                throw new StorageLimitException($"Database '{Database.Path}' has reached its maximum number of pages.");
            }
            SpaceRoot.SetPageCount(root, page + 1);
            if (Pages.TryGetValue(page, out var stale))
            {
                data = stale.Data;
                Array.Clear(data);
            }
            else
            {
                CheckSize();
                data = new byte[PageSize];
                Pages[page] = new PrivatePage(data, null, null);
            }
        }
        ref var ph = ref PageHeader.Of(data);
        ph.PageNumber = page;
        if (type is PageType.Leaf or PageType.Branch)
        {
            NodePage.Init(data, type);
        }
        else
        {
            ph.Type = type;
        }
        return page;
    }

    public void Free(uint page)
    {
        var root = Write(FormatConstants.SpaceRootPage);
        var data = Write(page);
        Array.Clear(data);
        ref var h = ref PageHeader.Of(data);
        h.PageNumber = page;
        h.Type = PageType.Free;
        h.Next = SpaceRoot.FreeHead(root);
        SpaceRoot.SetFreeHead(root, page);
        SpaceRoot.SetFreeCount(root, SpaceRoot.FreeCount(root) + 1);
    }

    private void CheckSize()
    {
        if ((long)(Pages.Count + 1) * PageSize > _maxPrivateBytes)
        {
            throw new StorageLimitException($"Transaction changes more than {_maxPrivateBytes >> 20} MiB of pages in database '{Database.Name}'; the limit is a quarter of the cache. Commit in smaller batches or raise the cache size.");
        }
    }

    public void Release()
    {
        foreach (var p in Pages.Values)
        {
            if (p.Base is not null)
            {
                _cache.Unpin(p.Base);
            }
        }
        Pages.Clear();
    }
}
