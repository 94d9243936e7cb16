using System.Buffers.Binary;
using Blueback.Storage.Format;

namespace Blueback.Storage.BTree;

/// <summary>The slotted layout of branch and leaf pages.</summary>
/// <remarks>
/// After the 32-byte page header comes an array of 2-byte cell offsets (in key order), growing up; cells are
/// packed from the end of the page, growing down. Leaf cell: key length (u16) · flags (u8) · value length (u32) ·
/// key · value; or, for a value kept outside the page, the first page (u32) of its overflow chain when
/// <see cref="OverflowFlag"/> is set (format version 1), or the page (u32) and slot (u16) of its first piece when
/// <see cref="PiecesFlag"/> is set (<see cref="ValuePieces"/>, version 2). Branch cell: key length
/// (u16) · child page (u32) · key; keys at or above the cell's key go to its child, smaller ones to the cell
/// before it or, for the first, to the leftmost child kept in the header's Next field.
/// </remarks>
internal static class NodePage
{
    public const byte OverflowFlag = 1;
    public const byte PiecesFlag = 2;
    public const int LeafCellHeader = 7;
    public const int BranchCellHeader = 6;
    private const int SlotSize = 2;

    public static void Init(Span<byte> page, PageType type)
    {
        ref var h = ref PageHeader.Of(page);
        h.Type = type;
        h.CellCount = 0;
        h.FreeStart = PageHeader.SizeOf;
        h.FreeEnd = (ushort)Math.Min(page.Length, ushort.MaxValue);
        h.Next = 0;
        h.Prev = 0;
        h.Flags = 0;
    }

    /// <summary>The largest cell a page accepts: a third of its space, so that any split leaves cells that fit.</summary>
    public static int MaxCell(int pageSize) => ((pageSize - PageHeader.SizeOf) / 3) - SlotSize;

    public static bool IsLeaf(ReadOnlySpan<byte> page) => PageHeader.Read(page).Type == PageType.Leaf;

    public static int Count(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt16LittleEndian(page[18..]);

    private static int FreeStart(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt16LittleEndian(page[20..]);

    private static int FreeEnd(ReadOnlySpan<byte> page)
    {
        int v = BinaryPrimitives.ReadUInt16LittleEndian(page[22..]);
        return v == ushort.MaxValue && page.Length > ushort.MaxValue ? page.Length : v;
    }

    public static int CellOffset(ReadOnlySpan<byte> page, int i) =>
        BinaryPrimitives.ReadUInt16LittleEndian(page[(PageHeader.SizeOf + (i * SlotSize))..]);

    public static ReadOnlySpan<byte> Key(ReadOnlySpan<byte> page, int i)
    {
        int off = CellOffset(page, i);
        int keyLen = BinaryPrimitives.ReadUInt16LittleEndian(page[off..]);
        int header = IsLeaf(page) ? LeafCellHeader : BranchCellHeader;
        return page.Slice(off + header, keyLen);
    }

    public static int CellSize(ReadOnlySpan<byte> page, int i)
    {
        int off = CellOffset(page, i);
        int keyLen = BinaryPrimitives.ReadUInt16LittleEndian(page[off..]);
        if (!IsLeaf(page))
        {
            return BranchCellHeader + keyLen;
        }
        return LeafCellHeader + keyLen + OutsideSize(page[off + 2], (int)BinaryPrimitives.ReadUInt32LittleEndian(page[(off + 3)..]));
    }

    public static ReadOnlySpan<byte> Cell(ReadOnlySpan<byte> page, int i) => page.Slice(CellOffset(page, i), CellSize(page, i));

    /// <summary>Bytes of a leaf cell after its key: the value, or the reference to where it is kept.</summary>
    private static int OutsideSize(byte flags, int valueLen) =>
        (flags & PiecesFlag) != 0 ? 6 : (flags & OverflowFlag) != 0 ? 4 : valueLen;

    /// <summary>A leaf cell's value: inline bytes, an overflow chain's first page, or its first piece.</summary>
    public static LeafValue Value(ReadOnlySpan<byte> page, int i)
    {
        int off = CellOffset(page, i);
        int keyLen = BinaryPrimitives.ReadUInt16LittleEndian(page[off..]);
        byte flags = page[off + 2];
        int valueLen = (int)BinaryPrimitives.ReadUInt32LittleEndian(page[(off + 3)..]);
        int at = off + LeafCellHeader + keyLen;
        if ((flags & PiecesFlag) != 0)
        {
            return new(ValueKind.Pieces, valueLen, BinaryPrimitives.ReadUInt32LittleEndian(page[at..]), BinaryPrimitives.ReadUInt16LittleEndian(page[(at + 4)..]), 0);
        }
        return (flags & OverflowFlag) != 0
            ? new(ValueKind.Chain, valueLen, BinaryPrimitives.ReadUInt32LittleEndian(page[at..]), 0, 0)
            : new(ValueKind.Inline, valueLen, 0, 0, at);
    }

    public static uint Child(ReadOnlySpan<byte> page, int i) =>
        i < 0 ? PageHeader.Read(page).Next : BinaryPrimitives.ReadUInt32LittleEndian(page[(CellOffset(page, i) + 2)..]);

    /// <summary>Binary search. Found: the key's index. Not found: where it would go.</summary>
    public static bool Search(ReadOnlySpan<byte> page, ReadOnlySpan<byte> key, out int index)
    {
        int lo = 0, hi = Count(page) - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            int c = Key(page, mid).SequenceCompareTo(key);
            if (c == 0)
            {
                index = mid;
                return true;
            }
            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        index = lo;
        return false;
    }

    /// <summary>In a branch, the child index (-1 for the leftmost) whose subtree holds <paramref name="key"/>.</summary>
    public static int ChildIndexFor(ReadOnlySpan<byte> page, ReadOnlySpan<byte> key) =>
        Search(page, key, out int i) ? i : i - 1;

    public static int Used(ReadOnlySpan<byte> page)
    {
        int n = Count(page);
        int used = PageHeader.SizeOf + (n * SlotSize);
        for (int i = 0; i < n; i++)
        {
            used += CellSize(page, i);
        }
        return used;
    }

    public static int FreeSpace(ReadOnlySpan<byte> page) => page.Length - Used(page);

    public static bool TryInsert(Span<byte> page, int index, ReadOnlySpan<byte> cell)
    {
        int need = cell.Length + SlotSize;
        if (FreeEnd(page) - FreeStart(page) < need)
        {
            if (FreeSpace(page) < need)
            {
                return false;
            }
            Compact(page);
        }
        ref var h = ref PageHeader.Of(page);
        int n = h.CellCount;
        int cellAt = FreeEnd(page) - cell.Length;
        cell.CopyTo(page[cellAt..]);
        int slotAt = PageHeader.SizeOf + (index * SlotSize);
        page[slotAt..(PageHeader.SizeOf + (n * SlotSize))].CopyTo(page[(slotAt + SlotSize)..]);
        BinaryPrimitives.WriteUInt16LittleEndian(page[slotAt..], (ushort)cellAt);
        h.CellCount = (ushort)(n + 1);
        h.FreeStart = (ushort)(PageHeader.SizeOf + ((n + 1) * SlotSize));
        h.FreeEnd = (ushort)cellAt;
        return true;
    }

    public static void Remove(Span<byte> page, int index)
    {
        ref var h = ref PageHeader.Of(page);
        int n = h.CellCount;
        int slotAt = PageHeader.SizeOf + (index * SlotSize);
        int end = PageHeader.SizeOf + (n * SlotSize);
        page[(slotAt + SlotSize)..end].CopyTo(page[slotAt..]);
        page.Slice(end - SlotSize, SlotSize).Clear();
        h.CellCount = (ushort)(n - 1);
        h.FreeStart = (ushort)(end - SlotSize);
        // The cell's bytes become a hole; Compact reclaims holes when space runs short.
    }

    /// <summary>Rewrites the cells packed at the end of the page, zeroing the freed space (deterministic pages
    /// keep page deltas in the log small).</summary>
    public static void Compact(Span<byte> page)
    {
        var cells = Cells(page);
        Rebuild(page, cells);
    }

    public static List<byte[]> Cells(ReadOnlySpan<byte> page)
    {
        int n = Count(page);
        var list = new List<byte[]>(n);
        for (int i = 0; i < n; i++)
        {
            list.Add(Cell(page, i).ToArray());
        }
        return list;
    }

    /// <summary>Replaces the page's cells, keeping its type and links.</summary>
    public static void Rebuild(Span<byte> page, IReadOnlyList<byte[]> cells, int from = 0, int count = -1)
    {
        if (count < 0)
        {
            count = cells.Count - from;
        }
        ref var h = ref PageHeader.Of(page);
        page[PageHeader.SizeOf..].Clear();
        h.CellCount = 0;
        h.FreeStart = PageHeader.SizeOf;
        h.FreeEnd = (ushort)Math.Min(page.Length, ushort.MaxValue);
        for (int i = 0; i < count; i++)
        {
            if (!TryInsert(page, i, cells[from + i]))
            {
                throw new StorageException("Internal error: cells do not fit in a rebuilt page. Please report this.");
            }
        }
    }

    public static int CellsSize(IReadOnlyList<byte[]> cells, int from, int count)
    {
        int s = PageHeader.SizeOf;
        for (int i = from; i < from + count; i++)
        {
            s += cells[i].Length + SlotSize;
        }
        return s;
    }

    public static byte[] LeafCell(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var cell = new byte[LeafCellHeader + key.Length + value.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(cell, (ushort)key.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(cell.AsSpan(3), (uint)value.Length);
        key.CopyTo(cell.AsSpan(LeafCellHeader));
        value.CopyTo(cell.AsSpan(LeafCellHeader + key.Length));
        return cell;
    }

    /// <summary>A leaf cell naming the first piece of a value kept in <see cref="ValuePieces"/>.</summary>
    public static byte[] PiecesCell(ReadOnlySpan<byte> key, int totalLength, uint page, ushort slot)
    {
        var cell = new byte[LeafCellHeader + key.Length + 6];
        BinaryPrimitives.WriteUInt16LittleEndian(cell, (ushort)key.Length);
        cell[2] = PiecesFlag;
        BinaryPrimitives.WriteUInt32LittleEndian(cell.AsSpan(3), (uint)totalLength);
        key.CopyTo(cell.AsSpan(LeafCellHeader));
        BinaryPrimitives.WriteUInt32LittleEndian(cell.AsSpan(LeafCellHeader + key.Length), page);
        BinaryPrimitives.WriteUInt16LittleEndian(cell.AsSpan(LeafCellHeader + key.Length + 4), slot);
        return cell;
    }

    public static byte[] BranchCell(ReadOnlySpan<byte> key, uint child)
    {
        var cell = new byte[BranchCellHeader + key.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(cell, (ushort)key.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(cell.AsSpan(2), child);
        key.CopyTo(cell.AsSpan(BranchCellHeader));
        return cell;
    }

    public static ReadOnlySpan<byte> CellKey(byte[] cell, bool leaf) =>
        cell.AsSpan(leaf ? LeafCellHeader : BranchCellHeader, BinaryPrimitives.ReadUInt16LittleEndian(cell));

    public static uint BranchCellChild(byte[] cell) => BinaryPrimitives.ReadUInt32LittleEndian(cell.AsSpan(2));
}

internal enum ValueKind : byte
{
    Inline,
    /// <summary>Whole overflow pages, as format version 1 wrote long values.</summary>
    Chain,
    Pieces,
}

/// <summary>Where a leaf cell's value is: inline at <see cref="InlineOffset"/>, or outside from
/// <see cref="Page"/> (and <see cref="Slot"/> for pieces).</summary>
internal readonly record struct LeafValue(ValueKind Kind, int Length, uint Page, ushort Slot, int InlineOffset);
