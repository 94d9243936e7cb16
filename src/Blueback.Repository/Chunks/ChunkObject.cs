using System.Buffers.Binary;
using System.Security.Cryptography;
using Blueback.Repository.Compression;
using Blueback.Repository.Crypto;

namespace Blueback.Repository.Chunks;

/// <summary>A format-2 chunk as stored: the payload (the content compressed, then sealed in an encrypted repository)
/// followed by a 32-byte trailer: "BBK2", version, codec, flags, the raw size, the payload's CRC32C (plain) and the
/// AES-GCM tag (encrypted). A chunk describes itself, so two backups that store the same content with different
/// codecs both leave a valid object under its one id; and its id, the hash of its content, is checked when it is
/// read, which makes every chunk self-verifying. The trailer goes last so that a raw chunk is stored from the very
/// buffer it was received into (aligned for direct writes), with no copy.</summary>
public static class ChunkObject
{
    public const int TrailerSize = 32;
    private const byte Version = 1;
    private const byte Encrypted = 1;
    private static ReadOnlySpan<byte> Magic => "BBK2"u8;

    /// <summary>Where a chunk of that id lives: <c>chunks/XX/ID</c>.</summary>
    public static string Key(string id) => $"{BackupRepository.ChunksRoot}/{id[..2]}/{id}";

    /// <summary>The id from a chunk key (its last part).</summary>
    public static string IdOf(string key) => key[(key.LastIndexOf('/') + 1)..];

    /// <summary>A chunk's id: the SHA-256 of its content, or in an encrypted repository that hash keyed (HMAC).</summary>
    public static string Id(ReadOnlySpan<byte> raw, RepositoryKeys? keys) => IdFromHash(SHA256.HashData(raw), keys);

    /// <summary>A chunk's id from the SHA-256 of its content.</summary>
    public static string IdFromHash(ReadOnlySpan<byte> contentHash, RepositoryKeys? keys) =>
        keys is not null ? keys.ChunkId(contentHash) : Convert.ToHexStringLower(contentHash);

    /// <summary>Room a stored chunk may need for <paramref name="rawSize"/> bytes of content with <paramref name="codec"/>.</summary>
    public static int MaxStoredSize(Codec codec, int rawSize) => codec.MaxStoredSize(rawSize) + TrailerSize;

    /// <summary>Room a stored chunk may need whatever codec wrote it (zstd and Brotli grow incompressible input by
    /// well under 1% plus a few bytes).</summary>
    public static int MaxStoredSize(int rawSize) => rawSize + rawSize / 128 + (64 << 10) + TrailerSize;

    /// <summary>Encodes <paramref name="raw"/> into <paramref name="destination"/> (compressed, sealed, trailer
    /// appended); returns the stored length. <paramref name="raw"/> and <paramref name="destination"/> may be the same
    /// memory only for a raw plain chunk (the trailer goes after the content).</summary>
    public static int Encode(string id, ReadOnlySpan<byte> raw, Codec codec, RepositoryKeys? keys, Span<byte> destination)
    {
        int length;
        if (codec.StoresRaw)
        {
            if (!raw.Overlaps(destination))
            {
                raw.CopyTo(destination);
            }
            length = raw.Length;
        }
        else
        {
            length = codec.Compress(raw, destination);
        }
        return Finish(id, destination, length, CodecId(codec.Name), raw.Length, keys, payloadCrc32C: null);
    }

    /// <summary>Makes a stored chunk of a payload already in <paramref name="buffer"/> (the content encoded with the
    /// codec <paramref name="codecId"/>, here or by the server that sent it): seals it in place in an encrypted
    /// repository and appends the trailer after it; returns the stored length. <paramref name="payloadCrc32C"/>, when
    /// the caller has checked it already, is not computed again.</summary>
    public static int Finish(string id, Span<byte> buffer, int payloadLength, byte codecId, int rawSize, RepositoryKeys? keys, uint? payloadCrc32C)
    {
        var payload = buffer[..payloadLength];
        var trailer = buffer.Slice(payloadLength, TrailerSize);
        trailer.Clear();
        Magic.CopyTo(trailer);
        trailer[4] = Version;
        trailer[5] = codecId;
        BinaryPrimitives.WriteInt32LittleEndian(trailer[8..], rawSize);
        if (keys is not null)
        {
            trailer[6] = Encrypted;
            keys.SealChunk(id, payload, trailer.Slice(16, RepositoryKeys.TagSize));
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(trailer[12..], payloadCrc32C ?? IO.Crc32C.Compute(0, payload));
        }
        return payloadLength + TrailerSize;
    }

    /// <summary>Checks a stored chunk's trailer and its payload's CRC32C (plain) or AES-GCM tag (encrypted, opened in
    /// place), without decompressing it: the payload's length, with its codec's id and the content's size; or null
    /// with <paramref name="problem"/> saying what is wrong. What an online restore forwards to the server as it is
    /// (the server decompresses it and checks the content's hash).</summary>
    public static int? Open(string id, Span<byte> stored, RepositoryKeys? keys, out byte codecId, out int rawSize, out string? problem)
    {
        problem = null;
        codecId = 0;
        rawSize = -1;
        if (stored.Length < TrailerSize || !stored[^TrailerSize..][..4].SequenceEqual(Magic))
        {
            problem = "it is not a Blueback chunk (no trailer; truncated or overwritten)";
            return null;
        }
        var trailer = stored[^TrailerSize..];
        var payload = stored[..^TrailerSize];
        rawSize = BinaryPrimitives.ReadInt32LittleEndian(trailer[8..]);
        codecId = trailer[5];
        if (trailer[4] != Version || rawSize < 0)
        {
            problem = $"its trailer is damaged or of an unknown version ({trailer[4]})";
            return null;
        }
        bool encrypted = (trailer[6] & Encrypted) != 0;
        if (encrypted != (keys is not null))
        {
            problem = encrypted ? "it is encrypted, but this repository is not" : "it is not encrypted, but this repository is";
            return null;
        }
        if (keys is not null)
        {
            if (!keys.OpenChunk(id, payload, trailer.Slice(16, RepositoryKeys.TagSize)))
            {
                problem = "it fails its authentication (AES-GCM tag): a byte was changed";
                return null;
            }
        }
        else if (IO.Crc32C.Compute(0, payload) != BinaryPrimitives.ReadUInt32LittleEndian(trailer[12..]))
        {
            problem = "CRC32C mismatch: a byte was changed";
            return null;
        }
        if (CodecOf(codecId) is null)
        {
            problem = $"it names an unknown codec ({codecId})";
            return null;
        }
        return payload.Length;
    }

    /// <summary>Decodes a stored chunk: trailer, CRC32C or AES-GCM tag, decompression, and the content against its
    /// id. Returns the content: inside <paramref name="stored"/> (a raw chunk, opened in place) or in
    /// <paramref name="scratch"/>; or null with <paramref name="problem"/> saying what is wrong.</summary>
    public static int? Decode(string id, Span<byte> stored, Span<byte> scratch, RepositoryKeys? keys, out bool inPlace, out string? problem) =>
        Decode(id, stored, scratch, keys, out inPlace, out problem, default);

    /// <summary>The same, also giving the SHA-256 of the content (32 bytes into <paramref name="contentHash"/>, when
    /// it is not empty): what the file's digest is made of.</summary>
    public static int? Decode(string id, Span<byte> stored, Span<byte> scratch, RepositoryKeys? keys, out bool inPlace, out string? problem, Span<byte> contentHash)
    {
        inPlace = false;
        if (Open(id, stored, keys, out var codecId, out int rawSize, out problem) is not { } payloadLength)
        {
            return null;
        }
        var payload = stored[..payloadLength];
        Span<byte> raw;
        var codec = CodecOf(codecId)!;
        if (codec.StoresRaw)
        {
            if (payload.Length != rawSize)
            {
                problem = $"it holds {payload.Length} bytes, its trailer says {rawSize}";
                return null;
            }
            raw = payload;
            inPlace = true;
        }
        else
        {
            if (scratch.Length < rawSize)
            {
                problem = $"it decompresses to {rawSize} bytes, more than a chunk of this set holds";
                return null;
            }
            raw = scratch[..rawSize];
            try
            {
                codec.Decompress(payload, raw);
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException)
            {
                problem = $"it does not decompress: {ex.Message}";
                return null;
            }
        }
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(raw, hash);
        if (!contentHash.IsEmpty)
        {
            hash.CopyTo(contentHash);
        }
        if (!string.Equals(IdFromHash(hash, keys), id, StringComparison.Ordinal))
        {
            problem = "its content does not hash to its id";
            return null;
        }
        return rawSize;
    }

    /// <summary>The raw size a stored chunk's trailer gives (to size a buffer), or -1.</summary>
    public static int RawSizeOf(ReadOnlySpan<byte> stored) =>
        stored.Length >= TrailerSize && stored[^TrailerSize..][..4].SequenceEqual(Magic) ? BinaryPrimitives.ReadInt32LittleEndian(stored[^TrailerSize..][8..]) : -1;

    /// <summary>The codec id a stored chunk's trailer names (call after <see cref="Decode(string, Span{byte}, Span{byte}, RepositoryKeys?, out bool, out string?)"/> accepted it).</summary>
    public static byte CodecIdOf(ReadOnlySpan<byte> stored) => stored[^TrailerSize..][5];

    /// <summary>The trailer's id of a codec (0 none, 1 zstd at any level, 2 Brotli).</summary>
    public static byte CodecId(string name) => name switch
    {
        "none" => 0,
        "brotli" => 2,
        _ when name.StartsWith("zstd", StringComparison.Ordinal) => 1,
        _ => throw new InvalidOperationException($"codec {name} has no chunk id"),
    };

    private static Codec? CodecOf(byte id) => id switch
    {
        0 => Codec.None,
        1 => Codec.ByName("zstd-1"),
        2 => Codec.ByName("brotli"),
        _ => null,
    };
}
