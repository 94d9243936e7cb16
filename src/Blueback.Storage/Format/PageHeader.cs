using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

public enum PageType : byte
{
    Uninitialized = 0,
    DatabaseHeader = 1,
    SpaceRoot = 2,
    Branch = 3,
    Leaf = 4,
    Overflow = 5,
    Free = 6,
    /// <summary>The last page of a database image in a backup.</summary>
    BackupTrailer = 7,
    /// <summary>Pieces of long values (format version 2).</summary>
    Pieces = 8,
    /// <summary>A page of the list of pages a changed-pages image holds (see <c>ChangedPagesImage</c>).</summary>
    PageMap = 9,
}

/// <summary>The 32 bytes at the start of every page.</summary>
/// <remarks>
/// Node pages (branch, leaf) use CellCount / FreeStart / FreeEnd for their slotted layout; Next and Prev are the
/// sibling links of a leaf, the leftmost child of a branch, the chain of an overflow or free page.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public struct PageHeader
{
    public const int SizeOf = 32;

    [FieldOffset(0)] public uint Checksum;
    [FieldOffset(4)] public uint PageNumber;
    [FieldOffset(8)] public ulong Lsn;
    [FieldOffset(16)] public PageType Type;
    [FieldOffset(17)] public byte Flags;
    [FieldOffset(18)] public ushort CellCount;
    [FieldOffset(20)] public ushort FreeStart;
    [FieldOffset(22)] public ushort FreeEnd;
    [FieldOffset(24)] public uint Next;
    [FieldOffset(28)] public uint Prev;

    public static ref PageHeader Of(Span<byte> page) => ref MemoryMarshal.AsRef<PageHeader>(page);

    public static PageHeader Read(ReadOnlySpan<byte> page) => MemoryMarshal.Read<PageHeader>(page);
}
