using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Blueback.Storage.Format;

namespace Blueback.Storage.Log;

/// <summary>The payload of a page-delta record: the byte ranges in which a page differs from its previous
/// logged state. The page header (after the checksum) is always one of the ranges, so redo sets the page LSN.</summary>
/// <remarks>Payload: range count (u16), then per range offset (u16) · length (u16) · bytes.</remarks>
internal static class PageDelta
{
    private const int MergeGapWords = 2;

    public static List<(int Offset, int Length)> Compute(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after)
    {
        var ranges = new List<(int, int)> { (4, PageHeader.SizeOf - 4) };
        var a = MemoryMarshal.Cast<byte, ulong>(before);
        var b = MemoryMarshal.Cast<byte, ulong>(after);
        int words = a.Length;
        int w = PageHeader.SizeOf / 8;
        int start = -1, lastDiff = -1;
        while (w < words)
        {
            // Skip equal stretches quickly.
            int eq = a[w..].CommonPrefixLength(b[w..]);
            if (eq > 0)
            {
                if (start >= 0 && w + eq - lastDiff - 1 > MergeGapWords)
                {
                    ranges.Add((start * 8, (lastDiff - start + 1) * 8));
                    start = -1;
                }
                w += eq;
                continue;
            }
            if (start < 0)
            {
                start = w;
            }
            lastDiff = w;
            w++;
        }
        if (start >= 0)
        {
            ranges.Add((start * 8, (lastDiff - start + 1) * 8));
        }
        return ranges;
    }

    public static int PayloadSize(List<(int Offset, int Length)> ranges)
    {
        int s = 2;
        foreach (var r in ranges)
        {
            s += 4 + r.Length;
        }
        return s;
    }

    public static void Write(Span<byte> dest, List<(int Offset, int Length)> ranges, ReadOnlySpan<byte> page)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(dest, (ushort)ranges.Count);
        int at = 2;
        foreach (var (off, len) in ranges)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(dest[at..], (ushort)off);
            BinaryPrimitives.WriteUInt16LittleEndian(dest[(at + 2)..], (ushort)len);
            page.Slice(off, len).CopyTo(dest[(at + 4)..]);
            at += 4 + len;
        }
    }

    /// <summary>Applies a delta payload to a page. Returns false if the payload does not fit the page.</summary>
    public static bool Apply(ReadOnlySpan<byte> payload, Span<byte> page)
    {
        if (payload.Length < 2)
        {
            return false;
        }
        int count = BinaryPrimitives.ReadUInt16LittleEndian(payload);
        int at = 2;
        for (int i = 0; i < count; i++)
        {
            if (at + 4 > payload.Length)
            {
                return false;
            }
            int off = BinaryPrimitives.ReadUInt16LittleEndian(payload[at..]);
            int len = BinaryPrimitives.ReadUInt16LittleEndian(payload[(at + 2)..]);
            if (at + 4 + len > payload.Length || off + len > page.Length)
            {
                return false;
            }
            payload.Slice(at + 4, len).CopyTo(page[off..]);
            at += 4 + len;
        }
        return true;
    }
}
