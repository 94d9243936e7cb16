using System.Buffers.Binary;

namespace Blueback.Protocol.Wire;

/// <summary>How a chunk's payload is encoded on the wire (and in the repository, which stores it as it arrives).</summary>
public enum WireCodec : byte
{
    /// <summary>The chunk's bytes as they are.</summary>
    None = 0,

    /// <summary>One zstd frame (a raw zstd block frame for incompressible content).</summary>
    Zstd = 1,
}

/// <summary>What a frame carries.</summary>
public enum ChunkFrameKind : byte
{
    /// <summary>The chunk's payload follows the header.</summary>
    Data = 0,

    /// <summary>The program said its repository holds a chunk with this content hash: no payload follows.</summary>
    Known = 1,

    /// <summary>A full backup begun with a page base, read with <c>unchanged=1</c>: none of the chunk's pages changed
    /// since the base set began, so the server passed over it unread and the program names the base set's chunk at the
    /// same place. No payload follows, and the hash is zeros.</summary>
    Unchanged = 2,
}

/// <summary>The header of one chunk in a chunk-frame stream (a backup's image, changed pages or log generation cut by
/// the server into the repository's chunks). 56 bytes, little-endian: "BBCF", kind, codec, 2 reserved, the content's
/// size, the payload's size, the payload's CRC32C, 4 reserved, then the SHA-256 of the content. The server reads and
/// checks the pages, hashes the content and compresses it; the program checks the payload's CRC32C and stores it as
/// it is, named by the hash (keyed first in an encrypted repository, whose key never leaves the program).</summary>
public readonly record struct ChunkFrame(ChunkFrameKind Kind, WireCodec Codec, int RawSize, int PayloadSize, uint PayloadCrc32C, byte[] ContentHash)
{
    /// <summary>Bytes of a header.</summary>
    public const int HeaderSize = 56;

    /// <summary>The largest chunk a frame may describe (64 MiB): a larger size is bad input, refused before any
    /// buffer is sized from it.</summary>
    public const int MaxRawSize = 64 << 20;

    private static ReadOnlySpan<byte> Magic => "BBCF"u8;

    /// <summary>Writes the header into the first <see cref="HeaderSize"/> bytes of <paramref name="destination"/>.</summary>
    /// <param name="destination">At least <see cref="HeaderSize"/> bytes.</param>
    public void Write(Span<byte> destination)
    {
        var h = destination[..HeaderSize];
        h.Clear();
        Magic.CopyTo(h);
        h[4] = (byte)Kind;
        h[5] = (byte)Codec;
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], RawSize);
        BinaryPrimitives.WriteInt32LittleEndian(h[12..], PayloadSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], PayloadCrc32C);
        ContentHash.AsSpan(0, 32).CopyTo(h[24..]);
    }

    /// <summary>Reads a header; null with <paramref name="problem"/> saying what is wrong when the bytes are not one
    /// (a payload larger than its content can be after compression is refused too).</summary>
    /// <param name="source">At least <see cref="HeaderSize"/> bytes.</param>
    /// <param name="problem">Why the bytes are not a valid header, or null.</param>
    public static ChunkFrame? TryRead(ReadOnlySpan<byte> source, out string? problem)
    {
        problem = null;
        if (source.Length < HeaderSize || !source[..4].SequenceEqual(Magic))
        {
            problem = "it does not start with a chunk frame's magic";
            return null;
        }
        var kind = (ChunkFrameKind)source[4];
        var codec = (WireCodec)source[5];
        int raw = BinaryPrimitives.ReadInt32LittleEndian(source[8..]);
        int payload = BinaryPrimitives.ReadInt32LittleEndian(source[12..]);
        if (kind is not (ChunkFrameKind.Data or ChunkFrameKind.Known or ChunkFrameKind.Unchanged) || codec is not (WireCodec.None or WireCodec.Zstd))
        {
            problem = $"it names an unknown kind ({source[4]}) or codec ({source[5]})";
            return null;
        }
        if (raw <= 0 || raw > MaxRawSize || payload < 0 || payload > MaxPayloadSize(raw) || (kind != ChunkFrameKind.Data && payload != 0)
            || (kind == ChunkFrameKind.Data && codec == WireCodec.None && payload != raw))
        {
            problem = $"its sizes are impossible (content {raw}, payload {payload} bytes)";
            return null;
        }
        return new ChunkFrame(kind, codec, raw, payload, BinaryPrimitives.ReadUInt32LittleEndian(source[16..]), source.Slice(24, 32).ToArray());
    }

    /// <summary>The most payload bytes a chunk of <paramref name="rawSize"/> may take (zstd grows incompressible input
    /// by well under 1%, plus a few bytes).</summary>
    /// <param name="rawSize">The content's size.</param>
    public static int MaxPayloadSize(int rawSize) => rawSize + rawSize / 128 + (64 << 10);
}
