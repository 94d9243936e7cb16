using System.Security.Cryptography;
using Blueback.Protocol;
using Blueback.Repository.Chunks;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>Format 2's file digest (the SHA-256 of the chunks' SHA-256s), the chunk sizes a restore upload carries,
/// and an extract into a copy that already holds most chunks.</summary>
public class ChunkDigestTests
{
    [Fact]
    public void The_digest_over_a_stream_cut_anywhere_equals_the_digest_of_the_chunk_hashes()
    {
        var data = new byte[300_000];
        new Random(1).NextBytes(data);
        int[] sizes = [8192, 100_000, 100_000, 91_808];
        var expected = ChunkDigest.Of(SplitHashes(data, sizes));
        var rng = new Random(2);
        for (int round = 0; round < 20; round++)
        {
            using var d = new ChunkDigest(sizes);
            for (int at = 0; at < data.Length;)
            {
                int n = Math.Min(rng.Next(1, 70_000), data.Length - at);
                d.Append(data.AsSpan(at, n));
                at += n;
            }
            Assert.Equal(expected, d.Finish());
        }
        using var shortOne = new ChunkDigest(sizes);
        shortOne.Append(data.AsSpan(0, 1000));
        Assert.Null(shortOne.Finish());
        using var longOne = new ChunkDigest(sizes);
        Assert.Throws<InvalidDataException>(() => longOne.Append(new byte[data.Length + 1]));
        data[150_000] ^= 1;
        Assert.NotEqual(expected, ChunkDigest.Of(SplitHashes(data, sizes)));
    }

    private static List<byte[]> SplitHashes(byte[] data, int[] sizes)
    {
        var list = new List<byte[]>();
        int at = 0;
        foreach (var s in sizes)
        {
            list.Add(SHA256.HashData(data.AsSpan(at, s)));
            at += s;
        }
        return list;
    }

    [Fact]
    public void Chunk_sizes_travel_as_runs_and_bad_lists_are_refused()
    {
        int[] sizes = [8192, .. Enumerable.Repeat(8 << 20, 255), 1 << 20, 8192];
        var text = ChunkSizes.Format(sizes);
        Assert.Equal("8192,8388608*255,1048576,8192", text);
        Assert.Equal(sizes, ChunkSizes.Parse(text));
        Assert.Empty(ChunkSizes.Parse("")!);
        foreach (var bad in new[] { "x", "1,,2", "-5", "5*0", "5*x", "1*2*3", "4096*2000000" })
        {
            Assert.Null(ChunkSizes.Parse(bad));
        }
        Assert.Null(ChunkSizes.Parse("8388608*255", maxBytes: 1000)); // more than the body it describes
    }

    private sealed class OldCopy(byte[] old) : MemoryStream, IPatchTarget
    {
        public int Skipped { get; private set; }

        public bool TryReadExisting(long offset, Span<byte> into)
        {
            if (offset + into.Length > old.Length)
            {
                return false;
            }
            old.AsSpan((int)offset, into.Length).CopyTo(into);
            return true;
        }

        public void SkipExisting(int length)
        {
            Write(old.AsSpan((int)Position, length));
            Skipped++;
        }
    }

    [Fact]
    public async Task An_extract_into_an_older_copy_reads_only_the_chunks_that_differ()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var image = new byte[10 * (64 << 10)];
        new Random(3).NextBytes(image);
        var w = repo.BeginSet("s", Codec.Default(), 64 << 10);
        await w.AddFileAsync("databases/x.bdb", new MemoryStream(image));
        await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full" }));
        var m = await repo.ReadManifestAsync("s");
        Assert.NotNull(m.Files[0].ChunkDigest);
        Assert.Equal("", m.Files[0].Sha256);

        var old = (byte[])image.Clone();
        old[3 * (64 << 10) + 5] ^= 0xFF; // one chunk differs
        var copy = new OldCopy(old[..(9 * (64 << 10))]); // and the old copy is one chunk short
        // A chunk the old copy holds is not read: remove one from the store to prove it.
        File.Delete(Path.Combine(dir.Path, m.Files[0].Chunks[0].Key));
        await SetVerifier.ExtractAsync(repo, m, m.Files[0], copy);
        Assert.Equal(8, copy.Skipped);
        Assert.Equal(image, copy.ToArray());
    }
}
