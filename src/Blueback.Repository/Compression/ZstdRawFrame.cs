using System.Buffers.Binary;

namespace Blueback.Repository.Compression;

/// <summary>Stores a chunk that does not compress as a zstd frame of raw blocks (RFC 8878, section 3.1.1): any
/// zstd decoder reads it back with a copy, and writing it costs a copy too, where zstd's own search for matches
/// in random bytes (already compressed attachments, encrypted data) costs half a CPU second per GB and saves
/// nothing. A few samples of the chunk, compressed, decide.</summary>
internal static class ZstdRawFrame
{
    private const uint Magic = 0xFD2FB528;
    // Single segment (the window is the content), a 4-byte content size, no checksum, no dictionary.
    private const byte FrameHeaderDescriptor = (2 << 6) | (1 << 5);
    private const int MaxBlock = 128 << 10;
    private const int SampleSize = 16 << 10;
    private const int Samples = 8;
    // Compressing must save at least this share of the samples' bytes to be worth its CPU.
    private const double MinSaving = 0.03;

    /// <summary>The bytes a raw frame of <paramref name="rawSize"/> bytes takes.</summary>
    public static int Size(int rawSize) => 4 + 1 + 4 + (3 * Math.Max(1, (rawSize + MaxBlock - 1) / MaxBlock)) + rawSize;

    /// <summary>Whether compressing <paramref name="raw"/> would save too little to pay: samples spread over it
    /// are compressed into <paramref name="scratch"/> (which must hold a sample's zstd bound).</summary>
    public static bool LooksIncompressible(ReadOnlySpan<byte> raw, Span<byte> scratch, int level)
    {
        if (raw.Length < Samples * SampleSize * 2)
        {
            return false; // small chunks: sampling would cost as much as compressing
        }
        long stored = 0;
        long stride = (raw.Length - SampleSize) / (Samples - 1);
        for (int i = 0; i < Samples; i++)
        {
            stored += Zstd.Compress(raw.Slice((int)(i * stride), SampleSize), scratch, level);
        }
        return stored >= (long)(Samples * SampleSize * (1 - MinSaving));
    }

    /// <summary>Writes the frame; returns its length (<see cref="Size"/>).</summary>
    public static int Write(ReadOnlySpan<byte> raw, Span<byte> destination)
    {
        if (destination.Length < Size(raw.Length))
        {
            throw new ArgumentException($"A raw zstd frame of {raw.Length} bytes needs {Size(raw.Length)}; the buffer holds {destination.Length}.", nameof(destination));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        destination[4] = FrameHeaderDescriptor;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[5..], (uint)raw.Length);
        int at = 9;
        int from = 0;
        do
        {
            int n = Math.Min(MaxBlock, raw.Length - from);
            bool last = from + n == raw.Length;
            uint header = (last ? 1u : 0u) | (0u << 1) | ((uint)n << 3); // block type 0: raw
            destination[at] = (byte)header;
            destination[at + 1] = (byte)(header >> 8);
            destination[at + 2] = (byte)(header >> 16);
            raw.Slice(from, n).CopyTo(destination[(at + 3)..]);
            at += 3 + n;
            from += n;
        }
        while (from < raw.Length);
        return at;
    }
}
