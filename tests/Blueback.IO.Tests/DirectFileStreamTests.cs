using Blueback.IO;

namespace Blueback.IO.Tests;

/// <summary>The streaming writer of restored files: exactly the bytes given, whatever the sizes and alignment of the
/// pieces (aligned memory written as it is, the rest staged), on a file system that takes O_DIRECT and on one that
/// refuses it; nothing more accepted once complete.</summary>
public class DirectFileStreamTests
{
    public static TheoryData<int, int> Pieces => new()
    {
        { 0, 4096 }, { 1, 1 }, { 10_000, 4096 }, { 9 << 20, 1 << 20 }, { (9 << 20) + 3, 8 << 20 }, { (5 << 20) + 7, 65_537 }, { 3 << 20, 4095 },
    };

    [Theory]
    [MemberData(nameof(Pieces))]
    public async Task Writes_exactly_what_it_was_given_in_pieces(int size, int piece)
    {
        using var dir = new TempDir("direct-stream");
        var data = new byte[size];
        new Random(size ^ piece).NextBytes(data);
        foreach (var root in DirectFileWriterTests.Roots(dir.Path))
        {
            foreach (bool aligned in new[] { true, false })
            {
                var path = Path.Combine(root, $"f-{size}-{piece}-{aligned}");
                await File.WriteAllBytesAsync(path, new byte[size + 9000]); // replaced, not merged
                await WriteAsync(path, data, piece, aligned);
                var written = await File.ReadAllBytesAsync(path);
                Assert.True(data.AsSpan().SequenceEqual(written), $"{size} bytes in pieces of {piece}, aligned {aligned}, under {root}");
                File.Delete(path);
            }
        }
    }

    /// <summary>Writes the data piece by piece, each piece copied into block-aligned memory (or one byte off it).</summary>
    private static async Task WriteAsync(string path, byte[] data, int piece, bool aligned)
    {
        int skew = aligned ? 0 : 1;
        var memory = GC.AllocateUninitializedArray<byte>(piece + 2 * DirectFileWriter.Alignment, pinned: true);
        int start = (int)((DirectFileWriter.Alignment - Address(memory) % DirectFileWriter.Alignment) % DirectFileWriter.Alignment) + skew;
        using var file = DirectFileStream.Create(path, data.Length);
        for (int at = 0; at < data.Length; at += piece)
        {
            int n = Math.Min(piece, data.Length - at);
            data.AsSpan(at, n).CopyTo(memory.AsSpan(start));
            await file.WriteAsync(memory.AsMemory(start, n));
        }
        Assert.Equal(data.Length, file.Written);
        file.Complete();
        Assert.Throws<InvalidOperationException>(() => file.Write(new byte[1]));
    }

    private static unsafe long Address(byte[] pinned)
    {
        fixed (byte* p = pinned)
        {
            return (long)p;
        }
    }

    [Fact]
    public void A_missing_directory_is_named()
    {
        using var dir = new TempDir("direct-stream");
        var path = Path.Combine(dir.Path, "no-such-dir", "f");
        var ex = Assert.ThrowsAny<IOException>(() => DirectFileStream.Create(path, 10));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }
}
