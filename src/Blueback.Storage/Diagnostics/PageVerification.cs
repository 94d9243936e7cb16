using System.Buffers.Binary;
using Blueback.Storage.Format;

namespace Blueback.Storage.Diagnostics;

/// <summary>Page checks for pages that are not in a database file (inside a backup set, say).</summary>
public static class PageVerification
{
    /// <summary>The page size a database image declares in its header page (0 if it is not one).</summary>
    public static int ImagePageSize(ReadOnlySpan<byte> firstBytes) =>
        firstBytes.Length >= 48 && BinaryPrimitives.ReadUInt32LittleEndian(firstBytes[32..]) == DatabaseHeader.MagicValue
            ? (int)BinaryPrimitives.ReadUInt32LittleEndian(firstBytes[40..])
            : 0;

    /// <summary>Null when the page verifies (or was never written); otherwise what is wrong.</summary>
    public static string? Problem(ReadOnlySpan<byte> page, uint pageNumber)
    {
        if (Checksum.VerifyPage(page, pageNumber))
        {
            var stored = PageHeader.Read(page).PageNumber;
            return stored == pageNumber ? null : $"holds page number {stored}";
        }
        return Checksum.IsAllZero(page) ? null : "checksum mismatch";
    }
}
