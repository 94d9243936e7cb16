using Blueback.Storage.Format;

namespace Blueback.Storage.BTree;

/// <summary>Long values as format version 1 kept them: a chain of whole overflow pages, each page's Next linking
/// the chain and Prev holding how many value bytes the page carries. Databases of version 1 still hold them, so
/// they are read and freed; new long values go to <see cref="ValuePieces"/>. <see cref="Write"/> stays only so
/// that tests can make such a database.</summary>
internal static class Overflow
{
    public static uint Write(IPageWriter w, ReadOnlySpan<byte> value)
    {
        int per = w.PageSize - PageHeader.SizeOf;
        uint first = 0;
        byte[]? previous = null;
        for (int at = 0; at < value.Length; at += per)
        {
            int n = Math.Min(per, value.Length - at);
            uint p = w.Allocate(PageType.Overflow);
            var page = w.Write(p);
            ref var h = ref PageHeader.Of(page);
            h.Prev = (uint)n;
            value.Slice(at, n).CopyTo(page.AsSpan(PageHeader.SizeOf));
            if (previous is null)
            {
                first = p;
            }
            else
            {
                PageHeader.Of(previous).Next = p;
            }
            previous = page;
        }
        return first;
    }

    public static byte[] Read(IPageReader r, uint first, int length)
    {
        var value = new byte[length];
        int at = 0;
        uint p = first;
        while (at < length)
        {
            if (p == 0)
            {
                throw new StorageException($"Overflow chain starting at page {first} ends after {at} of {length} bytes. The database is damaged; run 'blueback db checksum' and restore from a backup.");
            }
            var page = r.Read(p);
            var h = PageHeader.Read(page);
            if (h.Type != PageType.Overflow)
            {
                throw new StorageException($"Page {p} in the overflow chain starting at page {first} is a {h.Type} page. The database is damaged; restore from a backup.");
            }
            int n = (int)Math.Min(h.Prev, (uint)(length - at));
            page.AsSpan(PageHeader.SizeOf, n).CopyTo(value.AsSpan(at));
            at += n;
            p = h.Next;
        }
        return value;
    }

    public static void Free(IPageWriter w, uint first)
    {
        uint p = first;
        while (p != 0)
        {
            uint next = PageHeader.Read(w.Read(p)).Next;
            w.Free(p);
            p = next;
        }
    }
}
