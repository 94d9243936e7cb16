namespace Blueback.Storage.Tests;

/// <summary>The writer that restores and repository chunks use: exact content and length whatever the size (the
/// padded last block is cut back), on a file system that takes O_DIRECT and on one that refuses it (tmpfs).</summary>
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
            using (var writer = DirectFileWriter.Create(path, expectedLength: size + 12345))
            {
                // Uneven pieces, so that staging crosses buffer boundaries mid-write.
                for (int at = 0; at < size;)
                {
                    int n = Math.Min(size - at, 1 + (at * 7 % 300_001));
                    await writer.WriteAsync(data.AsMemory(at, n));
                    at += n;
                }
                await writer.CompleteAsync(CancellationToken.None);
                Assert.Equal(size, writer.Written);
            }
            Assert.Equal(data, await File.ReadAllBytesAsync(path));
            File.Delete(path);

            // The synchronous path (what chunk writes use), over an existing longer file: replaced, not merged.
            await File.WriteAllBytesAsync(path, new byte[size + 9000]);
            DirectFileWriter.WriteFile(path, data);
            Assert.Equal(data, await File.ReadAllBytesAsync(path));
            File.Delete(path);
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
            var ex = Assert.Throws<IOException>(() => DirectFileWriter.WriteFile(path, data, createNew: true));
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

    [Fact]
    public async Task A_file_not_completed_is_left_for_its_owner_and_disposing_it_does_not_hang()
    {
        using var dir = new TempDir("direct");
        var path = dir["partial"];
        var writer = DirectFileWriter.Create(path);
        await writer.WriteAsync(new byte[(5 << 20) + 17]);
        await Task.Run(writer.Dispose).WaitAsync(TimeSpan.FromSeconds(10)); // waits only for the write in flight
        Assert.True(File.Exists(path));
        Assert.Throws<ObjectDisposedException>(() => writer.Write(new byte[1]));
    }

    /// <summary>The test's own directory, and a tmpfs one (/dev/shm refuses O_DIRECT, so the buffered path runs).</summary>
    private static IEnumerable<string> Roots(string dir)
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
