using Blueback.Storage.BTree;
using Blueback.Storage.Format;

namespace Blueback.Storage.Tests;

/// <summary>A database's pages in memory, allocated and freed as a write view does (free list first, then the end),
/// for tests of the tree and value layouts without files, logs or transactions.</summary>
internal sealed class MemoryPages : IPageWriter
{
    private readonly Dictionary<uint, byte[]> _pages = new();

    public MemoryPages(int pageSize)
    {
        PageSize = pageSize;
        var root = new byte[pageSize];
        SpaceRoot.Initialize(root, FormatConstants.FirstDataPage);
        _pages[FormatConstants.SpaceRootPage] = root;
        var catalog = new byte[pageSize];
        NodePage.Init(catalog, PageType.Leaf);
        _pages[FormatConstants.CatalogRootPage] = catalog;
    }

    public int PageSize { get; }
    public PieceSpace Pieces { get; } = new();
    public uint PageCount => SpaceRoot.PageCount(Read(FormatConstants.SpaceRootPage));

    public byte[] Read(uint page) => _pages.TryGetValue(page, out var p) ? p : throw new InvalidOperationException($"page {page} was never written");

    public byte[] Write(uint page) => Read(page);

    public uint Allocate(PageType type)
    {
        var root = Read(FormatConstants.SpaceRootPage);
        uint page = SpaceRoot.FreeHead(root);
        if (page != 0)
        {
            var free = Read(page);
            Assert.Equal(PageType.Free, PageHeader.Read(free).Type);
            SpaceRoot.SetFreeHead(root, PageHeader.Read(free).Next);
            SpaceRoot.SetFreeCount(root, SpaceRoot.FreeCount(root) - 1);
        }
        else
        {
            page = SpaceRoot.PageCount(root);
            SpaceRoot.SetPageCount(root, page + 1);
        }
        var data = new byte[PageSize];
        _pages[page] = data;
        PageHeader.Of(data).PageNumber = page;
        if (type is PageType.Leaf or PageType.Branch)
        {
            NodePage.Init(data, type);
        }
        else
        {
            PageHeader.Of(data).Type = type;
        }
        return page;
    }

    public void Free(uint page)
    {
        var root = Read(FormatConstants.SpaceRootPage);
        var data = Read(page);
        Assert.NotEqual(PageType.Free, PageHeader.Read(data).Type);
        Array.Clear(data);
        PageHeader.Of(data).PageNumber = page;
        PageHeader.Of(data).Type = PageType.Free;
        PageHeader.Of(data).Next = SpaceRoot.FreeHead(root);
        SpaceRoot.SetFreeHead(root, page);
        SpaceRoot.SetFreeCount(root, SpaceRoot.FreeCount(root) + 1);
    }

    public uint FreeCount => SpaceRoot.FreeCount(Read(FormatConstants.SpaceRootPage));
}
