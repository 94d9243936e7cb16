using System.Buffers.Binary;
using Blueback.IO;

namespace Blueback.Storage.Format;

/// <summary>Page checksums: CRC32C (<see cref="Crc32C"/>) seeded with the page number.</summary>
internal static class Checksum
{
    /// <summary>A page's checksum: over everything after the checksum field, seeded with the page number,
    /// so that a correct page written to the wrong place does not verify.</summary>
    public static uint Page(ReadOnlySpan<byte> page, uint pageNumber) => Crc32C.Compute(pageNumber ^ 0x9E3779B9u, page[4..]);

    public static void StampPage(Span<byte> page, uint pageNumber) =>
        BinaryPrimitives.WriteUInt32LittleEndian(page, Page(page, pageNumber));

    public static bool VerifyPage(ReadOnlySpan<byte> page, uint pageNumber) =>
        BinaryPrimitives.ReadUInt32LittleEndian(page) == Page(page, pageNumber);

    public static bool IsAllZero(ReadOnlySpan<byte> data) => !data.ContainsAnyExcept((byte)0);
}
