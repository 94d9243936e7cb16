using System.Runtime.InteropServices;
using Blueback.IO;

namespace Blueback.IO.Tests;

/// <summary>The reader of repository chunks: exactly the file's bytes whatever its size and the destination's
/// alignment, the file's length when the destination is too small, and on a file system that refuses O_DIRECT.</summary>
public class DirectFileReaderTests
{
    public static TheoryData<int> Sizes => new() { 0, 1, 4095, 4096, 4097, (4 << 20) - 1, 4 << 20, (9 << 20) + 3 };

    [Theory]
    [MemberData(nameof(Sizes))]
    public unsafe void Reads_exactly_the_file_into_aligned_and_unaligned_memory(int size)
    {
        using var dir = new TempDir("direct-read");
        var data = new byte[size];
        new Random(size).NextBytes(data);
        int room = size + 3 * DirectFileWriter.Alignment;
        void* memory = NativeMemory.AlignedAlloc((nuint)room, DirectFileWriter.Alignment);
        try
        {
            foreach (var root in DirectFileWriterTests.Roots(dir.Path))
            {
                var path = Path.Combine(root, $"f-{size}");
                File.WriteAllBytes(path, data);
                foreach (int skew in new[] { 0, 1, DirectFileWriter.Alignment })
                {
                    var all = new Span<byte>(memory, room);
                    all.Fill(0xEE);
                    var into = all.Slice(skew, size);
                    Assert.Equal(size, DirectFileReader.ReadFile(path, into));
                    Assert.True(into.SequenceEqual(data), $"size {size}, {skew} bytes off alignment");
                    Assert.True(all[(skew + size)..].IndexOfAnyExcept((byte)0xEE) < 0, "nothing written past the destination");
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    [Fact]
    public void A_destination_smaller_than_the_file_gets_its_part_and_the_file_length()
    {
        using var dir = new TempDir("direct-read");
        var data = Enumerable.Range(0, 20_000).Select(i => (byte)(i * 7)).ToArray();
        foreach (var root in DirectFileWriterTests.Roots(dir.Path))
        {
            var path = Path.Combine(root, "chunk");
            File.WriteAllBytes(path, data);
            var into = new byte[10_001];
            Assert.Equal(data.Length, DirectFileReader.ReadFile(path, into));
            Assert.Equal(data[..10_001], into);
        }
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        using var dir = new TempDir("direct-read");
        var path = Path.Combine(dir.Path, "no-such-chunk");
        var ex = Assert.ThrowsAny<IOException>(() => DirectFileReader.ReadFile(path, new byte[10]));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }
}
