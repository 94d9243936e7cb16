using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Blueback.Protocol.Wire;

/// <summary>The body of a load's rows post: rows back to back, each [u16 table length][table, UTF-8][u16 key
/// length][key][u32 value length][value], little-endian. Binary, not JSON: a granular restore moves whole tables, and
/// base64 would add a third to every value.</summary>
public static class RowFrames
{
    /// <summary>The bytes a row takes in a body.</summary>
    public static int SizeOf(string table, int keyLength, int valueLength) => 8 + Encoding.UTF8.GetByteCount(table) + keyLength + valueLength;

    /// <summary>Appends one row to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, string table, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        int tableBytes = Encoding.UTF8.GetByteCount(table);
        var span = output.GetSpan(8 + tableBytes + key.Length + value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, checked((ushort)tableBytes));
        Encoding.UTF8.GetBytes(table, span[2..]);
        int at = 2 + tableBytes;
        BinaryPrimitives.WriteUInt16LittleEndian(span[at..], checked((ushort)key.Length));
        key.CopyTo(span[(at + 2)..]);
        at += 2 + key.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(span[at..], (uint)value.Length);
        value.CopyTo(span[(at + 4)..]);
        output.Advance(at + 4 + value.Length);
    }

    /// <summary>Reads the row at the start of <paramref name="body"/>: false when the body ends inside it (more bytes
    /// are needed); <paramref name="length"/> is the row's size when true.</summary>
    public static bool TryRead(ReadOnlySpan<byte> body, out string table, out ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value, out int length)
    {
        table = "";
        key = default;
        value = default;
        length = 0;
        if (body.Length < 2)
        {
            return false;
        }
        int tableBytes = BinaryPrimitives.ReadUInt16LittleEndian(body);
        int at = 2 + tableBytes;
        if (body.Length < at + 2)
        {
            return false;
        }
        int keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(body[at..]);
        if (body.Length < at + 2 + keyBytes + 4)
        {
            return false;
        }
        uint valueBytes = BinaryPrimitives.ReadUInt32LittleEndian(body[(at + 2 + keyBytes)..]);
        long end = at + 2L + keyBytes + 4 + valueBytes;
        if (valueBytes > Routes.Limits.MaxValueBytes || body.Length < end)
        {
            // A value over the limit is reported by the caller from the header alone, without waiting for its bytes.
            if (valueBytes > Routes.Limits.MaxValueBytes)
            {
                throw new InvalidDataException($"a row's value announces {valueBytes:N0} bytes; values are at most {Routes.Limits.MaxValueBytes:N0} bytes (16 MiB).");
            }
            return false;
        }
        table = Encoding.UTF8.GetString(body.Slice(2, tableBytes));
        key = body.Slice(at + 2, keyBytes);
        value = body.Slice(at + 2 + keyBytes + 4, (int)valueBytes);
        length = (int)end;
        return true;
    }
}
