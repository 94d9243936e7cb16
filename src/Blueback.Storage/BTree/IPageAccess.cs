using Blueback.Storage.Format;

namespace Blueback.Storage.BTree;

/// <summary>Pages of one database as one transaction sees them.</summary>
internal interface IPageReader
{
    int PageSize { get; }
    /// <summary>The page's bytes; read-only to the caller.</summary>
    byte[] Read(uint page);
}

/// <summary>A write transaction's view: writes go to private copies until commit.</summary>
internal interface IPageWriter : IPageReader
{
    /// <summary>A private, writable copy of the page.</summary>
    byte[] Write(uint page);
    /// <summary>A fresh page of the given type, from the free list or the end of the file.</summary>
    uint Allocate(PageType type);
    void Free(uint page);
    /// <summary>Where the next long value's pieces go: hints, checked before use.</summary>
    PieceSpace Pieces { get; }
}
