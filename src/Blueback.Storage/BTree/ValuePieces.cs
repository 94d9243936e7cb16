using System.Buffers.Binary;
using Blueback.Storage.Format;

namespace Blueback.Storage.BTree;

/// <summary>Values too long for a leaf cell, cut into pieces packed into shared pages (format version 2).</summary>
/// <remarks>
/// A whole page per value (the version 1 overflow chain) leaves the last page of every value part empty: half of
/// the file for 4 KiB values in 8 KiB pages. Here a value fills the free space of the database's current pieces
/// page and goes on in fresh pages, so pages fill whatever the value sizes. A pieces page is slotted like a node
/// page but its slots never move (a leaf cell or the piece before names a piece by page and slot): slot = u16
/// offset of the piece, 0 when free; piece = length (u16) · next page (u32) · next slot (u16) · bytes. A page whose
/// last piece goes is freed. Which page takes the next piece is a hint carried from commit to commit and checked
/// before use (<see cref="PieceSpace"/>), so it needs no logging.
/// </remarks>
internal static class ValuePieces
{
    private const int SlotSize = 2;
    private const int PieceHeader = 8;
    // A page with less room than this is not worth a piece of a longer value: start a fresh page instead.
    private const int MinPiece = 128;

    /// <summary>Stores the value; returns its first piece.</summary>
    public static (uint Page, ushort Slot) Write(IPageWriter w, ReadOnlySpan<byte> value)
    {
        (uint Page, ushort Slot) first = default, previous = default;
        uint current = Usable(w, w.Pieces.Current);
        for (int at = 0; at < value.Length;)
        {
            var (p, page, slot, n) = Place(w, ref current, value.Length - at);
            Put(page, slot, value.Slice(at, n));
            if (previous.Page == 0)
            {
                first = (p, slot);
            }
            else
            {
                SetNext(w.Write(previous.Page), previous.Slot, p, slot);
            }
            previous = (p, slot);
            at += n;
        }
        w.Pieces.Current = current;
        return first;
    }

    /// <summary>A place for the next piece, and <paramref name="current"/> the page it is in. Whole pages of
    /// the value go to fresh pages; the rest (less than a page) fills the current page, then pages deletes left
    /// with at least an eighth of a page free, then a fresh page. Pages fill, at the cost of a value's last part
    /// sometimes being spread over several of them.</summary>
    private static (uint PageNo, byte[] Page, ushort Slot, int Bytes) Place(IPageWriter w, ref uint current, int remaining)
    {
        byte[] page;
        ushort slot;
        int n;
        if (remaining < FullPiece(w.PageSize))
        {
            var pieces = w.Pieces;
            // It fills the current page, then pages deletes left, before a fresh one: taking only pages with room
            // for all of it would leave the smaller holes empty for good.
            while (true)
            {
                if (TryPlaceIn(w, current, remaining, out page, out slot, out n))
                {
                    return (current, page, slot, n);
                }
                if (pieces.Count == 0)
                {
                    break;
                }
                current = Usable(w, pieces[^1]);
                pieces.RemoveAt(pieces.Count - 1);
            }
        }
        uint fresh = w.Allocate(PageType.Pieces);
        page = w.Write(fresh);
        InitPage(page);
        if (!TryPlace(page, remaining, out slot, out n))
        {
            throw new InvalidOperationException($"A fresh pieces page {fresh} took no piece; page size {w.PageSize}.");
        }
        if (remaining < FullPiece(w.PageSize))
        {
            current = fresh; // the page it leaves has less than a piece's room
        }
        return (fresh, page, slot, n);
    }

    /// <summary>Places a piece in page <paramref name="p"/> if it has the room, looking before writing: a page
    /// only looked at stays out of the transaction.</summary>
    private static bool TryPlaceIn(IPageWriter w, uint p, int remaining, out byte[] page, out ushort slot, out int n)
    {
        page = [];
        slot = 0;
        n = 0;
        if (p == 0)
        {
            return false;
        }
        var ro = w.Read(p);
        if (TotalFree(ro) - (FirstFreeSlot(ro) < 0 ? SlotSize : 0) - PieceHeader < Math.Min(remaining, MinPiece))
        {
            return false;
        }
        page = w.Write(p);
        return TryPlace(page, remaining, out slot, out n);
    }

    private static int FullPiece(int pageSize) => pageSize - PageHeader.SizeOf - SlotSize - PieceHeader;

    public static byte[] Read(IPageReader r, uint page, ushort slot, int length)
    {
        var value = new byte[length];
        int at = 0;
        uint p = page;
        ushort s = slot;
        while (at < length)
        {
            var data = r.Read(p);
            int off = PieceOffset(data, p, s, page, slot);
            int n = BinaryPrimitives.ReadUInt16LittleEndian(data[off..]);
            if (n > length - at || off + PieceHeader + n > data.Length)
            {
                throw Damaged(page, slot, $"page {p} slot {s} holds {n} bytes where {length - at} were left of {length}");
            }
            data.AsSpan(off + PieceHeader, n).CopyTo(value.AsSpan(at));
            at += n;
            p = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(off + 2));
            s = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(off + 6));
            if (at < length && (p == 0 || n == 0))
            {
                throw Damaged(page, slot, $"the pieces end after {at} of {length} bytes");
            }
        }
        return value;
    }

    /// <summary>Frees every piece of the value; a page left with none is freed.</summary>
    public static void Free(IPageWriter w, uint page, ushort slot, int length)
    {
        uint p = page;
        ushort s = slot;
        for (int at = 0; at < length;)
        {
            var data = w.Write(p);
            int off = PieceOffset(data, p, s, page, slot);
            int n = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(off));
            if (off + PieceHeader + n > data.Length)
            {
                throw Damaged(page, slot, $"page {p} slot {s} holds {n} bytes, past the page's end");
            }
            uint nextPage = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(off + 2));
            ushort nextSlot = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(off + 6));
            Remove(data, s, off, n);
            if (PageHeader.Read(data).CellCount == 0)
            {
                w.Free(p);
            }
            else if (TotalFree(data) >= w.PageSize / 8)
            {
                w.Pieces.Offer(p); // refilled before the file grows
            }
            at += n;
            if (at < length && (nextPage == 0 || n == 0))
            {
                throw Damaged(page, slot, $"the pieces end after {at} of {length} bytes");
            }
            (p, s) = (nextPage, nextSlot);
        }
    }

    /// <summary>The page if it is still a pieces page of this database; 0 if it was freed, taken for something
    /// else, or lies beyond the end.</summary>
    private static uint Usable(IPageWriter w, uint p)
    {
        if (p < FormatConstants.FirstDataPage || p >= SpaceRoot.PageCount(w.Read(FormatConstants.SpaceRootPage)))
        {
            return 0;
        }
        return PageHeader.Read(w.Read(p)).Type == PageType.Pieces ? p : 0;
    }

    private static void InitPage(Span<byte> page)
    {
        ref var h = ref PageHeader.Of(page);
        h.Type = PageType.Pieces;
        h.CellCount = 0;
        h.FreeStart = PageHeader.SizeOf;
        h.FreeEnd = (ushort)Math.Min(page.Length, ushort.MaxValue);
    }

    private static int FreeEnd(ReadOnlySpan<byte> page)
    {
        int v = PageHeader.Read(page).FreeEnd;
        return v == ushort.MaxValue && page.Length > ushort.MaxValue ? page.Length : v;
    }

    private static int SlotAt(ReadOnlySpan<byte> page, int s) =>
        BinaryPrimitives.ReadUInt16LittleEndian(page[(PageHeader.SizeOf + (s * SlotSize))..]);

    private static void SetSlot(Span<byte> page, int s, int offset) =>
        BinaryPrimitives.WriteUInt16LittleEndian(page[(PageHeader.SizeOf + (s * SlotSize))..], (ushort)offset);

    /// <summary>Finds room for a piece of up to <paramref name="wanted"/> bytes (all of them, or at least
    /// <see cref="MinPiece"/>), compacting the page first if its free space is scattered.</summary>
    private static bool TryPlace(Span<byte> page, int wanted, out ushort slot, out int n)
    {
        int least = Math.Min(wanted, MinPiece);
        var h = PageHeader.Read(page);
        int free = FirstFreeSlot(page);
        int slotCost = free < 0 ? SlotSize : 0;
        int room = FreeEnd(page) - h.FreeStart - slotCost - PieceHeader;
        if (room < least && TotalFree(page) - slotCost - PieceHeader >= least)
        {
            Compact(page);
            room = FreeEnd(page) - PageHeader.Read(page).FreeStart - slotCost - PieceHeader;
        }
        room = Math.Min(room, ushort.MaxValue);
        if (room < least)
        {
            slot = 0;
            n = 0;
            return false;
        }
        slot = (ushort)(free < 0 ? h.CellCount : free);
        n = Math.Min(wanted, room);
        return true;
    }

    /// <summary>The first slot a removed piece left free; -1 when every slot holds a piece.</summary>
    private static int FirstFreeSlot(ReadOnlySpan<byte> page)
    {
        for (int s = 0; s < PageHeader.Read(page).CellCount; s++)
        {
            if (SlotAt(page, s) == 0)
            {
                return s;
            }
        }
        return -1;
    }

    private static void Put(Span<byte> page, ushort slot, ReadOnlySpan<byte> bytes)
    {
        ref var h = ref PageHeader.Of(page);
        if (slot == h.CellCount)
        {
            h.CellCount++;
            h.FreeStart += SlotSize;
        }
        int off = FreeEnd(page) - PieceHeader - bytes.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(page[off..], (ushort)bytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(page[(off + 2)..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(page[(off + 6)..], 0);
        bytes.CopyTo(page[(off + PieceHeader)..]);
        h.FreeEnd = (ushort)off;
        SetSlot(page, slot, off);
    }

    private static void SetNext(Span<byte> page, ushort slot, uint nextPage, ushort nextSlot)
    {
        int off = SlotAt(page, slot);
        BinaryPrimitives.WriteUInt32LittleEndian(page[(off + 2)..], nextPage);
        BinaryPrimitives.WriteUInt16LittleEndian(page[(off + 6)..], nextSlot);
    }

    /// <summary>Frees a slot and zeroes its piece (deleted data does not linger in the file or in backups);
    /// trailing free slots are given back.</summary>
    private static void Remove(Span<byte> page, ushort slot, int off, int n)
    {
        page.Slice(off, PieceHeader + n).Clear();
        SetSlot(page, slot, 0);
        ref var h = ref PageHeader.Of(page);
        if (off == FreeEnd(page))
        {
            h.FreeEnd = (ushort)Math.Min(LowestPiece(page), ushort.MaxValue);
        }
        while (h.CellCount > 0 && SlotAt(page, h.CellCount - 1) == 0)
        {
            h.CellCount--;
            h.FreeStart -= SlotSize;
        }
    }

    /// <summary>The offset of the piece nearest the slots; the page's end when it holds none.</summary>
    private static int LowestPiece(ReadOnlySpan<byte> page)
    {
        int lowest = page.Length;
        for (int s = 0; s < PageHeader.Read(page).CellCount; s++)
        {
            int o = SlotAt(page, s);
            if (o != 0 && o < lowest)
            {
                lowest = o;
            }
        }
        return lowest;
    }

    private static int TotalFree(ReadOnlySpan<byte> page)
    {
        var h = PageHeader.Read(page);
        int used = 0;
        for (int s = 0; s < h.CellCount; s++)
        {
            int o = SlotAt(page, s);
            if (o != 0)
            {
                used += PieceHeader + BinaryPrimitives.ReadUInt16LittleEndian(page[o..]);
            }
        }
        return page.Length - h.FreeStart - used;
    }

    /// <summary>Moves the live pieces together at the page's end; slots keep their numbers.</summary>
    private static void Compact(Span<byte> page)
    {
        var copy = page.ToArray();
        int count = PageHeader.Read(page).CellCount;
        page[PageHeader.Read(page).FreeStart..].Clear();
        int end = page.Length;
        for (int s = 0; s < count; s++)
        {
            int o = SlotAt(copy, s);
            if (o == 0)
            {
                continue;
            }
            int size = PieceHeader + BinaryPrimitives.ReadUInt16LittleEndian(copy.AsSpan(o));
            end -= size;
            copy.AsSpan(o, size).CopyTo(page[end..]);
            SetSlot(page, s, end);
        }
        PageHeader.Of(page).FreeEnd = (ushort)Math.Min(end, ushort.MaxValue);
    }

    private static int PieceOffset(byte[] data, uint p, ushort s, uint firstPage, ushort firstSlot)
    {
        var h = PageHeader.Read(data);
        if (h.Type != PageType.Pieces)
        {
            throw Damaged(firstPage, firstSlot, $"page {p} is a {h.Type} page where a pieces page was expected");
        }
        int off = s < h.CellCount ? SlotAt(data, s) : 0;
        if (off < h.FreeStart || off + PieceHeader > data.Length)
        {
            throw Damaged(firstPage, firstSlot, $"page {p} has no piece in slot {s}");
        }
        return off;
    }

    private static StorageException Damaged(uint page, ushort slot, string what) =>
        new($"The long value whose first piece is in page {page}, slot {slot}, is damaged: {what}. The database is damaged; run 'blueback db checksum' and restore from a backup.");
}
