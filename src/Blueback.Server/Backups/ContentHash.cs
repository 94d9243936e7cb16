using System.Buffers.Binary;
using System.Collections.Frozen;

namespace Blueback.Server.Backups;

/// <summary>A chunk's SHA-256 as four words: what a session's set of chunks the program holds is keyed by (a set of
/// structs, not of 32-byte arrays or strings, for a million hashes).</summary>
public readonly record struct ContentHash(ulong A, ulong B, ulong C, ulong D)
{
    public const int Size = 32;

    public static ContentHash Of(ReadOnlySpan<byte> hash) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(hash),
        BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]),
        BinaryPrimitives.ReadUInt64LittleEndian(hash[16..]),
        BinaryPrimitives.ReadUInt64LittleEndian(hash[24..]));

    /// <summary>The hashes in <paramref name="bytes"/> (32 each) added to <paramref name="set"/>.</summary>
    public static FrozenSet<ContentHash> Union(IReadOnlySet<ContentHash> set, ReadOnlySpan<byte> bytes)
    {
        var all = new HashSet<ContentHash>(set);
        for (int i = 0; i + Size <= bytes.Length; i += Size)
        {
            all.Add(Of(bytes.Slice(i, Size)));
        }
        return all.ToFrozenSet();
    }
}
