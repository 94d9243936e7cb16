using Blueback.IO;

namespace Blueback.IO.Tests;

/// <summary>The writer of repository chunks: exact content and length whatever the size (the padded last block is
/// cut back, data longer than the staging buffer goes in pieces), on a file system that takes O_DIRECT and on one
/// that refuses it (tmpfs).</summary>
public class DirectFileWriterTests
{
    public static TheoryData<int> Sizes => new() { 0, 1, 4095, 4096, 4097, (4 << 20) - 1, 4 << 20, (9 << 20) + 3 };

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Writes_exactly_what_it_was_given(int size)
    {
        using var dir = new TempDir("direct");
        foreach (var root in Roots(dir.Path))
        {
            var data = new byte[size];
            new Random(size).NextBytes(data);
            var path = Path.Combine(root, $"f-{size}");
            // Over an existing longer file: replaced, not merged.
            await File.WriteAllBytesAsync(path, new byte[size + 9000]);
            DirectFileWriter.WriteFile(path, data);
            Assert.Equal(data, await File.ReadAllBytesAsync(path));
            File.Delete(path);
        }
    }

    /// <summary>A source aligned in memory is written without the staging copy, its partial last block through it;
    /// one a byte off alignment takes the staging path throughout. Both give the same file.</summary>
    [Theory]
    [MemberData(nameof(Sizes))]
    public unsafe void An_aligned_source_is_written_as_it_is(int size)
    {
        using var dir = new TempDir("direct");
        void* memory = System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)size + 2 * DirectFileWriter.Alignment, DirectFileWriter.Alignment);
        try
        {
            var all = new Span<byte>(memory, size + 2 * DirectFileWriter.Alignment);
            new Random(size + 1).NextBytes(all);
            foreach (var root in Roots(dir.Path))
            {
                foreach (int skew in new[] { 0, 1, DirectFileWriter.Alignment })
                {
                    var source = all.Slice(skew, size);
                    var path = Path.Combine(root, $"f-{size}-{skew}");
                    DirectFileWriter.WriteFile(path, source);
                    Assert.True(source.SequenceEqual(File.ReadAllBytes(path)), $"size {size}, {skew} bytes off alignment");
                    File.Delete(path);
                }
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(memory);
        }
    }

    [Fact]
    public void A_whole_file_in_one_call_and_create_new_refuses_an_existing_file()
    {
        using var dir = new TempDir("direct");
        foreach (var root in Roots(dir.Path))
        {
            var path = Path.Combine(root, "chunk");
            var data = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();
            DirectFileWriter.WriteFile(path, data, createNew: true);
            Assert.Equal(data, File.ReadAllBytes(path));
            var ex = Assert.Throws<FileExistsException>(() => DirectFileWriter.WriteFile(path, data, createNew: true));
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            DirectFileWriter.WriteFile(path, data.AsSpan(0, 5)); // replaces
            Assert.Equal(data[..5], File.ReadAllBytes(path));
        }
    }

    [Fact]
    public void A_missing_directory_is_named()
    {
        using var dir = new TempDir("direct");
        var path = Path.Combine(dir.Path, "no-such-dir", "f");
        var ex = Assert.ThrowsAny<IOException>(() => DirectFileWriter.WriteFile(path, new byte[10]));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>The test's own directory, and a tmpfs one (/dev/shm refuses O_DIRECT, so the buffered path runs).</summary>
    internal static IEnumerable<string> Roots(string dir)
    {
        yield return dir;
        var shm = Path.Combine("/dev/shm", $"bb-direct-{Guid.NewGuid():N}");
        if (OperatingSystem.IsLinux() && Directory.Exists("/dev/shm"))
        {
            Directory.CreateDirectory(shm);
            try
            {
                yield return shm;
            }
            finally
            {
                Directory.Delete(shm, recursive: true);
            }
        }
    }
}
