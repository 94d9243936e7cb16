using Blueback.Backup.Mounting;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;
using Blueback.Repository.Tests;

namespace Blueback.Backup.Tests;

/// <summary>A mounted set's lazy page source: pages are read from the chunk holding them, each chunk fetched from the
/// repository once and checked, a damaged one named and refused, the disk cache held to its bound, and writes kept in
/// the overlay, never in the repository.</summary>
public class MountedImageTests
{
    private const int PageSize = 4096;

    private sealed class Fixture : IDisposable
    {
        public TempDir Dir { get; } = new("mount");
        public BackupRepository Repo { get; private set; } = null!;
        public Manifest Set { get; private set; } = null!;
        public ManifestFile File { get; private set; } = null!;
        public byte[] Content { get; private set; } = [];
        public MountCounters Counters { get; } = new();
        public ChunkCache Cache { get; private set; } = null!;
        public MountedImage Image { get; private set; } = null!;

        public static async Task<Fixture> CreateAsync(int chunkSize, int chunks, long cacheBytes = ChunkCache.MinBytes)
        {
            var f = new Fixture();
            f.Repo = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(f.Dir.Path, "repo")));
            f.Content = new byte[chunkSize * chunks];
            new Random(7).NextBytes(f.Content);
            var w = f.Repo.BeginSet("set-a", Codec.Default(), chunkSize);
            f.File = await w.AddFileAsync("databases/x.bdb", new MemoryStream(f.Content));
            f.Set = w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = 1, GenHigh = 1, Ended = DateTime.UtcNow });
            await w.CommitAsync(f.Set);
            f.Set = await f.Repo.ReadManifestAsync("set-a");
            f.File = f.Set.Files.Single();
            f.Cache = new ChunkCache(Path.Combine(f.Dir.Path, "cache"), cacheBytes, f.Counters);
            f.Image = new MountedImage(Path.Combine(f.Dir.Path, "x.bdb"), f.Set, f.File, PageSize, f.Cache, Path.Combine(f.Dir.Path, "x.pages"),
                (chunk, ct) => SetVerifier.ReadChunkAsync(f.Repo, f.Set, f.File, chunk, ct));
            return f;
        }

        public byte[] Page(long page)
        {
            var buffer = new byte[PageSize];
            Assert.Equal(PageSize, Image.Read(page * PageSize, buffer));
            return buffer;
        }

        public void Dispose()
        {
            Image.Dispose();
            Cache.Dispose();
            Dir.Dispose();
        }
    }

    [Fact]
    public async Task A_page_is_read_from_its_chunk_alone_and_each_chunk_is_fetched_once()
    {
        using var f = await Fixture.CreateAsync(64 << 10, 8);
        int perChunk = (64 << 10) / PageSize;
        for (int p = 3 * perChunk; p < 4 * perChunk; p++)
        {
            Assert.Equal(f.Content.AsSpan(p * PageSize, PageSize).ToArray(), f.Page(p));
        }
        Assert.Equal(1, f.Counters.ChunksFetched); // one chunk's pages, one fetch
        Assert.Equal(perChunk - 1, f.Counters.CacheHits);
        Assert.True(f.Counters.BytesFetched < f.Content.Length / 4, $"{f.Counters.BytesFetched} bytes fetched for one chunk of {f.Content.Length}");

        // A read across a chunk boundary takes both; reading everything twice fetches each chunk once.
        var whole = new byte[f.Content.Length];
        Assert.Equal(whole.Length, f.Image.Read(0, whole));
        Assert.Equal(f.Content, whole);
        Assert.Equal(whole.Length, f.Image.Read(0, whole));
        Assert.Equal(8, f.Counters.ChunksFetched);
        var odd = new byte[PageSize + 100];
        Assert.Equal(odd.Length, f.Image.Read(perChunk * PageSize - 50, odd));
        Assert.Equal(f.Content.AsSpan(perChunk * PageSize - 50, odd.Length).ToArray(), odd);
    }

    [Fact]
    public async Task Concurrent_readers_of_one_chunk_share_one_fetch()
    {
        using var f = await Fixture.CreateAsync(64 << 10, 2);
        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => Assert.Equal(f.Content.AsSpan(i * PageSize, PageSize).ToArray(), f.Page(i)))));
        Assert.Equal(1, f.Counters.ChunksFetched);
    }

    [Fact]
    public async Task A_damaged_chunk_is_named_and_refused_and_the_other_chunks_still_read()
    {
        using var f = await Fixture.CreateAsync(64 << 10, 4);
        var damaged = f.File.Chunks[2];
        var path = Path.Combine(f.Dir.Path, "repo", damaged.Key);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[10] ^= 0x40;
        await File.WriteAllBytesAsync(path, bytes);
        int perChunk = (64 << 10) / PageSize;
        var ex = Assert.Throws<RepositoryException>(() => f.Page(2 * perChunk + 1));
        Assert.Contains(damaged.Key, ex.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", ex.Message, StringComparison.Ordinal);
        Assert.Contains("set-a", ex.Message, StringComparison.Ordinal);
        Assert.Throws<RepositoryException>(() => f.Page(2 * perChunk)); // never cached: refused again, not served
        Assert.Equal(f.Content.AsSpan(0, PageSize).ToArray(), f.Page(0));
    }

    [Fact]
    public async Task The_cache_holds_its_bound_evicting_the_least_recently_used_chunk()
    {
        const int chunk = 4 << 20;
        using var f = await Fixture.CreateAsync(chunk, 6, cacheBytes: ChunkCache.MinBytes);
        int perChunk = chunk / PageSize;
        for (int c = 0; c < 6; c++)
        {
            Assert.Equal(f.Content.AsSpan(c * chunk, PageSize).ToArray(), f.Page((long)c * perChunk));
            Assert.True(f.Cache.Bytes <= ChunkCache.MinBytes, $"{f.Cache.Bytes} bytes cached after chunk {c}, bound {ChunkCache.MinBytes}");
            Assert.True(Directory.GetFiles(Path.Combine(f.Dir.Path, "cache")).Length <= 4);
        }
        Assert.Equal(6, f.Counters.ChunksFetched);
        Assert.Equal(2, f.Counters.ChunksEvicted);
        f.Page(5L * perChunk + 1); // the newest: still cached
        Assert.Equal(6, f.Counters.ChunksFetched);
        f.Page(0); // the oldest: evicted, fetched again
        Assert.Equal(7, f.Counters.ChunksFetched);
    }

    [Fact]
    public async Task Pages_written_go_to_the_overlay_and_the_repository_is_left_as_it_was()
    {
        using var f = await Fixture.CreateAsync(64 << 10, 2);
        var before = Directory.GetFiles(Path.Combine(f.Dir.Path, "repo"), "*", SearchOption.AllDirectories).ToDictionary(p => p, File.ReadAllBytes);
        var page = new byte[PageSize];
        Array.Fill(page, (byte)0xAB);
        f.Image.Write(5 * PageSize, page);
        f.Image.Write(f.Content.Length + PageSize, page); // beyond the image: the file grows
        Assert.Equal(page, f.Page(5));
        Assert.Equal(f.Content.AsSpan(4 * PageSize, PageSize).ToArray(), f.Page(4));
        Assert.Equal(new byte[PageSize], f.Page(f.Content.Length / PageSize)); // grown over, never written: zeros
        Assert.Equal(page, f.Page(f.Content.Length / PageSize + 1));
        Assert.Equal(2, f.Image.OverlaidPages);
        Assert.Throws<Storage.StorageException>(() => f.Image.Write(100, page)); // not at a page boundary
        foreach (var (p, bytes) in before)
        {
            Assert.Equal(bytes, File.ReadAllBytes(p));
        }
    }
}
