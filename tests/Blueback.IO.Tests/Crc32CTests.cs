using Blueback.IO;

namespace Blueback.IO.Tests;

/// <summary>The three-lane CRC32C gives exactly the CRC of the textbook bit-at-a-time definition, at every length
/// around its block boundaries, at any alignment and with any seed (pages, log records and chunks depend on it).</summary>
public class Crc32CTests
{
    /// <summary>CRC32C as defined (reflected polynomial 0x82F63B78), one bit at a time, with the same seed rule.</summary>
    private static uint Reference(uint seed, ReadOnlySpan<byte> data)
    {
        uint crc = ~seed;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int i = 0; i < 8; i++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }
        return ~crc;
    }

    [Fact]
    public void Matches_the_definition_at_every_length_near_the_block_boundaries()
    {
        var rng = new Random(11);
        var data = new byte[3 * 8192 + 64];
        rng.NextBytes(data);
        int block = 3 * 2728;
        var lengths = new List<int> { 0, 1, 7, 8, 9, 4096, 8188, 8192 };
        foreach (int edge in new[] { block, 2 * block, 3 * block })
        {
            for (int d = -9; d <= 9; d++)
            {
                lengths.Add(edge + d);
            }
        }
        foreach (int length in lengths.Where(l => l >= 0 && l + 5 <= data.Length))
        {
            foreach (int offset in new[] { 0, 1, 4, 5 })
            {
                uint seed = (uint)rng.Next();
                var span = data.AsSpan(offset, length);
                Assert.True(Reference(seed, span) == Crc32C.Compute(seed, span), $"length {length}, offset {offset}");
            }
        }
    }

    [Fact]
    public void Chains_like_one_pass()
    {
        var rng = new Random(12);
        var data = new byte[100_000];
        rng.NextBytes(data);
        for (int cut = 0; cut < data.Length; cut += 9_973)
        {
            uint first = Crc32C.Compute(0, data.AsSpan(0, cut));
            Assert.Equal(Crc32C.Compute(0, data), Crc32C.Compute(first, data.AsSpan(cut)));
        }
    }
}
