using Blueback.Storage.Format;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Diagnostics;

public enum PageProblem
{
    ChecksumMismatch,
    WrongPageNumber,
}

public sealed record BadPage(uint Page, PageProblem Problem, string Detail);

public sealed record ChecksumReport(string File, int PageSize, long Pages, long Good, long Uninitialized, IReadOnlyList<BadPage> Bad)
{
    public long ChecksumMismatches => Bad.Count(b => b.Problem == PageProblem.ChecksumMismatch);
    public long WrongPageNumbers => Bad.Count(b => b.Problem == PageProblem.WrongPageNumber);
    public bool Ok => Bad.Count == 0;
}

/// <summary>Offline checks of a database file (the original's eseutil /k and /mh).</summary>
public static class DatabaseCheck
{
    public static DatabaseHeader ReadHeader(string path)
    {
        using var file = DatabaseFile.Open(path, writable: false);
        return file.ReadHeader();
    }

    /// <summary>Reads every page of the file and verifies its checksum and page number. Never-written (all-zero)
    /// pages are counted apart. Reads in large sequential blocks.</summary>
    public static ChecksumReport Checksum(string path, IProgress<(long Done, long Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        using var file = DatabaseFile.Open(path, writable: false);
        int ps = file.PageSize;
        long length = RandomAccess.GetLength(file.Handle);
        long pages = length / ps;
        var bad = new List<BadPage>();
        long good = 0, zero = 0;
        int perBlock = Math.Max(1, (1 << 20) / ps);
        var block = new byte[perBlock * ps];
        for (long first = 0; first < pages; first += perBlock)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = (int)Math.Min(perBlock, pages - first);
            int n = file.ReadRaw((uint)first, block.AsSpan(0, count * ps));
            _ = n;
            for (int i = 0; i < count; i++)
            {
                uint pageNo = (uint)(first + i);
                var page = block.AsSpan(i * ps, ps);
                if (Format.Checksum.VerifyPage(page, pageNo))
                {
                    var stored = PageHeader.Read(page).PageNumber;
                    if (stored == pageNo)
                    {
                        good++;
                    }
                    else
                    {
                        bad.Add(new BadPage(pageNo, PageProblem.WrongPageNumber, $"page {pageNo} holds page number {stored}"));
                    }
                }
                else if (Format.Checksum.IsAllZero(page))
                {
                    zero++;
                }
                else if (FindsHome(page, pages, out uint home))
                {
                    bad.Add(new BadPage(pageNo, PageProblem.WrongPageNumber, $"page {pageNo} holds a valid image of page {home}, written to the wrong place"));
                }
                else
                {
                    bad.Add(new BadPage(pageNo, PageProblem.ChecksumMismatch, $"page {pageNo}: checksum mismatch"));
                }
            }
            progress?.Report((first + count, pages));
        }
        return new ChecksumReport(path, ps, pages, good, zero, bad);
    }

    /// <summary>A page whose checksum fails at its own position but verifies with the page number it carries
    /// was written to the wrong place.</summary>
    private static bool FindsHome(ReadOnlySpan<byte> page, long pages, out uint home)
    {
        home = PageHeader.Read(page).PageNumber;
        return home < pages && Format.Checksum.VerifyPage(page, home);
    }
}
