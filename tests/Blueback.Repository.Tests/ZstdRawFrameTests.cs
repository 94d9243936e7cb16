using Blueback.Repository.Compression;

namespace Blueback.Repository.Tests;

/// <summary>Chunks that do not compress are stored as zstd frames of raw blocks, which libzstd itself reads back;
/// chunks that compress, even partly, are still compressed.</summary>
public class ZstdRawFrameTests
{
    private static byte[] Random(int size, int seed)
    {
        var b = new byte[size];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Theory]
    [InlineData(1)]
    [InlineData((128 << 10) - 1)]
    [InlineData(128 << 10)]
    [InlineData((128 << 10) + 1)]
    [InlineData(3 * (128 << 10))]
    [InlineData(8 << 20)]
    public void A_raw_frame_is_read_back_by_libzstd(int size)
    {
        Assert.True(Zstd.IsAvailable, "libzstd.so.1 is not installed: install the zstd library (Debian: libzstd1)");
        var raw = Random(size, size);
        var frame = new byte[ZstdRawFrame.Size(size)];
        Assert.Equal(frame.Length, ZstdRawFrame.Write(raw, frame));
        var back = new byte[size];
        Assert.Equal(size, Zstd.Decompress(frame, back));
        Assert.Equal(raw, back);
    }

    [Fact]
    public void Random_chunks_are_stored_raw_and_compressible_ones_compressed()
    {
        Assert.True(Zstd.IsAvailable, "libzstd.so.1 is not installed: install the zstd library (Debian: libzstd1)");
        var codec = Codec.Default(1);
        const int size = 8 << 20;
        var random = Random(size, 1);
        var half = Random(size, 2);
        for (int i = 0; i < size; i += 8192)
        {
            half.AsSpan(i + 4096, 4096).Clear(); // half of every page empty, as pages often are
        }
        var text = System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, size / 40).Select(i => $"message {i:D8} from someone@example.org\n")));
        foreach (var (raw, name, most) in new[] { (random, "random", 1.001), (half, "half empty", 0.55), (text.AsSpan(0, Math.Min(size, text.Length)).ToArray(), "text", 0.3) })
        {
            var stored = new byte[codec.MaxStoredSize(raw.Length)];
            int n = codec.Compress(raw, stored);
            Assert.True(n <= raw.Length * most, $"{name}: {n} stored for {raw.Length}");
            var back = new byte[raw.Length];
            codec.Decompress(stored.AsSpan(0, n), back);
            Assert.Equal(raw, back);
        }
        var r = new byte[codec.MaxStoredSize(size)];
        Assert.Equal(ZstdRawFrame.Size(size), codec.Compress(random, r)); // the raw path, not zstd's own
    }
}
