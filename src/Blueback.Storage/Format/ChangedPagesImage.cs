using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

/// <summary>The layout of a changed-pages image, what a changed-pages backup holds of a database instead of its whole
/// image: the header pages (0 and 1, with the current-backup record), the page map (pages of type
/// <see cref="PageType.PageMap"/>: the numbers of the pages that follow, ascending; the first map page's Next field holds
/// how many there are and its Prev field how many map pages), those pages in map order, then the trailer page. Each page
/// keeps its own checksum and number, so each is checked where it will be written; a page that was still all zeros in
/// the file when read (created after the backup's checkpoint, not yet written back) is sent as zeros and made by the
/// set's logs.</summary>
public static class ChangedPagesImage
{
    /// <summary>The position of the first map page.</summary>
    public const int MapStart = (int)FormatConstants.ShadowHeaderPage + 1;

    public static int EntriesPerMapPage(int pageSize) => (pageSize - PageHeader.SizeOf) / sizeof(uint);

    /// <summary>Map pages for <paramref name="count"/> pages: at least one, so an empty map is said, not implied.</summary>
    public static int MapPages(int count, int pageSize) => Math.Max(1, (count + EntriesPerMapPage(pageSize) - 1) / EntriesPerMapPage(pageSize));

    /// <summary>Bytes of an image holding <paramref name="count"/> pages.</summary>
    public static long Length(int count, int pageSize) => ((long)MapStart + MapPages(count, pageSize) + count + 1) * pageSize;

    /// <summary>The map pages for <paramref name="pages"/>, stamped at their positions in the image.</summary>
    public static byte[] BuildMap(IReadOnlyList<uint> pages, int pageSize)
    {
        int per = EntriesPerMapPage(pageSize), mapPages = MapPages(pages.Count, pageSize);
        var bytes = new byte[mapPages * pageSize];
        for (int m = 0; m < mapPages; m++)
        {
            var page = bytes.AsSpan(m * pageSize, pageSize);
            int from = m * per, n = Math.Min(per, pages.Count - from);
            ref var h = ref PageHeader.Of(page);
            h.PageNumber = (uint)(MapStart + m);
            h.Type = PageType.PageMap;
            h.CellCount = (ushort)n;
            if (m == 0)
            {
                h.Next = (uint)pages.Count;
                h.Prev = (uint)mapPages;
            }
            for (int i = 0; i < n; i++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(page[(PageHeader.SizeOf + i * 4)..], pages[from + i]);
            }
            Checksum.StampPage(page, (uint)(MapStart + m));
        }
        return bytes;
    }
}

/// <summary>A changed-pages image is not what it should be: the message names the position and what is wrong.</summary>
public sealed class ChangedPagesFormatException(string message) : StorageException(message);

/// <summary>Reads a changed-pages image page by page, checking it as it goes (restore applies it, verify checks it, by
/// the same rules): every page's checksum at its number, the map ascending, past the header pages and below the
/// trailer's page count, and nothing after the trailer.</summary>
public sealed class ChangedPagesReader(int pageSize)
{
    private readonly List<uint> _map = [];
    private long _index;
    private uint _mapPages, _count;

    public enum Part { Header, Map, Page, Trailer }

    /// <summary>The pages the image holds, once its map is read.</summary>
    public IReadOnlyList<uint> Pages => _map;

    /// <summary>Set once the trailer is read.</summary>
    public BackupTrailer? Trailer { get; private set; }

    public int PageSize => pageSize;

    /// <summary>Takes the image's next page and says what it is; for a data page, <paramref name="pageNumber"/> is where
    /// it goes (an all-zero page goes nowhere: <paramref name="zero"/>).</summary>
    public Part Take(ReadOnlySpan<byte> page, out uint pageNumber, out bool zero)
    {
        pageNumber = 0;
        zero = false;
        long at = _index++;
        if (Trailer is not null)
        {
            throw new ChangedPagesFormatException($"page {at} of the changed-pages image follows its trailer: the image is longer than its map says.");
        }
        if (at < MapStartIndex)
        {
            if (!Checksum.VerifyPage(page, (uint)at) || PageHeader.Read(page).Type != PageType.DatabaseHeader)
            {
                throw new ChangedPagesFormatException($"header page {at} of the changed-pages image fails its checksum or is not a database header.");
            }
            pageNumber = (uint)at;
            return Part.Header;
        }
        if (at < MapStartIndex + Math.Max(_mapPages, 1))
        {
            var h = PageHeader.Read(page);
            if (!Checksum.VerifyPage(page, (uint)at) || h.Type != PageType.PageMap || h.PageNumber != at)
            {
                throw new ChangedPagesFormatException($"map page {at} of the changed-pages image fails its checksum or is not a map page.");
            }
            if (at == MapStartIndex)
            {
                (_count, _mapPages) = (h.Next, h.Prev);
                if (_mapPages != (uint)ChangedPagesImage.MapPages((int)Math.Min(_count, int.MaxValue), pageSize))
                {
                    throw new ChangedPagesFormatException($"the map of the changed-pages image says {_count} pages in {_mapPages} map pages, which does not add up.");
                }
            }
            for (int i = 0; i < h.CellCount; i++)
            {
                uint p = BinaryPrimitives.ReadUInt32LittleEndian(page[(PageHeader.SizeOf + i * 4)..]);
                if (p < FormatConstants.SpaceRootPage || (_map.Count > 0 && p <= _map[^1]))
                {
                    throw new ChangedPagesFormatException($"map page {at} of the changed-pages image lists page {p} out of order (after {(_map.Count > 0 ? _map[^1] : 0)}).");
                }
                _map.Add(p);
            }
            if (at == MapStartIndex + _mapPages - 1 && _map.Count != _count)
            {
                throw new ChangedPagesFormatException($"the map of the changed-pages image lists {_map.Count} pages, its first page says {_count}.");
            }
            return Part.Map;
        }
        long data = at - MapStartIndex - _mapPages;
        if (data < _count)
        {
            pageNumber = _map[(int)data];
            if (Checksum.IsAllZero(page))
            {
                zero = true;
            }
            else if (!Checksum.VerifyPage(page, pageNumber) || PageHeader.Read(page).PageNumber != pageNumber)
            {
                throw new ChangedPagesFormatException($"page {pageNumber} (image page {at}) fails its checksum or page number.");
            }
            return Part.Page;
        }
        var t = MemoryMarshal.Read<BackupTrailer>(page);
        if (t.Magic != BackupTrailer.MagicValue || !Checksum.VerifyPage(page, t.PageCount) || t.PageSize != pageSize)
        {
            throw new ChangedPagesFormatException($"image page {at}, where the trailer should be, is not a valid backup trailer.");
        }
        if (_map.Count > 0 && _map[^1] >= t.PageCount)
        {
            throw new ChangedPagesFormatException($"the map lists page {_map[^1]}, past the database's {t.PageCount} pages.");
        }
        Trailer = t;
        return Part.Trailer;
    }

    private static long MapStartIndex => ChangedPagesImage.MapStart;
}
