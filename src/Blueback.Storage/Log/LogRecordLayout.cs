using System.Buffers.Binary;
using Blueback.IO;
using Blueback.Storage.Format;

namespace Blueback.Storage.Log;

/// <summary>The byte layout of a log record. Records start on 8-byte boundaries.</summary>
/// <remarks>
/// 0 crc (u32, over bytes 4..length, seeded with the record's own LSN) · 4 length (u32, unpadded, header
/// included) · 8 lsn (u64, the record's own position: a stale record left in a reused area never matches) ·
/// 16 type (u8) · 17 reserved · 18 database id (u16) · 20 page number (u32) · 24 payload.
/// </remarks>
internal static class LogRecordLayout
{
    public const int HeaderSize = 24;
    public const int Alignment = 8;

    public static int Padded(int length) => (length + Alignment - 1) & ~(Alignment - 1);

    public static void WriteHeader(Span<byte> dest, int length, Lsn lsn, LogRecordType type, ushort db, uint page)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(dest[4..], (uint)length);
        BinaryPrimitives.WriteUInt64LittleEndian(dest[8..], lsn.Value);
        dest[16] = (byte)type;
        dest[17] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(dest[18..], db);
        BinaryPrimitives.WriteUInt32LittleEndian(dest[20..], page);
    }

    public static void Seal(Span<byte> record, Lsn lsn, int length) =>
        BinaryPrimitives.WriteUInt32LittleEndian(record, Seed(lsn, record[4..length]));

    private static uint Seed(Lsn lsn, ReadOnlySpan<byte> body) => Crc32C.Compute((uint)(lsn.Value ^ (lsn.Value >> 29)), body);

    /// <summary>Checks that a record starting at <paramref name="at"/> is whole and belongs at this position.</summary>
    public static bool IsValid(ReadOnlySpan<byte> file, int at, Lsn expected, out int length)
    {
        length = 0;
        if (at + HeaderSize > file.Length)
        {
            return false;
        }
        var len = BinaryPrimitives.ReadUInt32LittleEndian(file[(at + 4)..]);
        if (len < HeaderSize || len > file.Length - at)
        {
            return false;
        }
        if (BinaryPrimitives.ReadUInt64LittleEndian(file[(at + 8)..]) != expected.Value)
        {
            return false;
        }
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(file[at..]);
        if (crc != Seed(expected, file.Slice(at + 4, (int)len - 4)))
        {
            return false;
        }
        length = (int)len;
        return true;
    }
}
