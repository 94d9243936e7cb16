using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

/// <summary>CRC32C in hardware, with a seed so that a block's identity (page number, LSN) is folded in.</summary>
internal static class Checksum
{
    public static uint Crc32C(uint seed, ReadOnlySpan<byte> data)
    {
        uint crc = ~seed;
        var longs = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var v in longs)
        {
            crc = BitOperations.Crc32C(crc, v);
        }
        for (int i = longs.Length * 8; i < data.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, data[i]);
        }
        return ~crc;
    }

    /// <summary>A page's checksum: over everything after the checksum field, seeded with the page number,
    /// so that a correct page written to the wrong place does not verify.</summary>
    public static uint Page(ReadOnlySpan<byte> page, uint pageNumber) => Crc32C(pageNumber ^ 0x9E3779B9u, page[4..]);

    public static void StampPage(Span<byte> page, uint pageNumber) =>
        BinaryPrimitives.WriteUInt32LittleEndian(page, Page(page, pageNumber));

    public static bool VerifyPage(ReadOnlySpan<byte> page, uint pageNumber) =>
        BinaryPrimitives.ReadUInt32LittleEndian(page) == Page(page, pageNumber);

    public static bool IsAllZero(ReadOnlySpan<byte> data) => !data.ContainsAnyExcept((byte)0);
}
