using System.Buffers.Binary;
using Blueback.Storage.Format;

namespace Blueback.Storage.BTree;

/// <summary>Page 2 of every database: how many pages the database owns and the head of its free-page list.
/// It changes inside transactions like any other page, so allocation is logged and recovered.</summary>
internal static class SpaceRoot
{
    private const int PageCountOffset = PageHeader.SizeOf;
    private const int FreeHeadOffset = PageHeader.SizeOf + 4;
    private const int FreeCountOffset = PageHeader.SizeOf + 8;

    public static void Initialize(Span<byte> page, uint pageCount)
    {
        ref var h = ref PageHeader.Of(page);
        h.Type = PageType.SpaceRoot;
        h.PageNumber = FormatConstants.SpaceRootPage;
        SetPageCount(page, pageCount);
    }

    public static uint PageCount(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt32LittleEndian(page[PageCountOffset..]);
    public static void SetPageCount(Span<byte> page, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(page[PageCountOffset..], v);
    public static uint FreeHead(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt32LittleEndian(page[FreeHeadOffset..]);
    public static void SetFreeHead(Span<byte> page, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(page[FreeHeadOffset..], v);
    public static uint FreeCount(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt32LittleEndian(page[FreeCountOffset..]);
    public static void SetFreeCount(Span<byte> page, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(page[FreeCountOffset..], v);
}
