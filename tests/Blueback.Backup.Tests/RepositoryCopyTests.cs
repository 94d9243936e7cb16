using Blueback.Backup;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;
using Blueback.Repository.Tests;

namespace Blueback.Backup.Tests;

/// <summary><c>repo copy</c> between local repositories: sets arrive whole with their ids, times and chain, under the
/// destination's keys; what the destination holds is not written again; damage in the source is refused and named;
/// an interrupted copy lists nothing partial and resumes.</summary>
public class RepositoryCopyTests
{
    private const int Chunk = 64 << 10;

    private static byte[] Bytes(int length, int seed, bool compressible = false)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        if (compressible)
        {
            Array.Clear(b, 0, length / 2);
        }
        return b;
    }

    private static async Task<Manifest> WriteSetAsync(BackupRepository repo, string id, string type, string? parent, uint low, uint high, Dictionary<string, byte[]> files, Codec? codec = null)
    {
        var w = repo.BeginSet(id, codec ?? Codec.Default(), Chunk, BackupRepository.KnownChunks(await repo.ListSetsAsync()));
        foreach (var (path, bytes) in files)
        {
            await w.AddFileAsync(path, new MemoryStream(bytes));
        }
        var started = new DateTime(2026, 11, 1, 10, 0, 0, DateTimeKind.Utc).AddHours(low);
        await w.CommitAsync(w.Describing(new Manifest
        {
            Instance = "store", Type = type, ParentSetId = parent, LogSignature = "sig", GenLow = low, GenHigh = high,
            Started = started, Ended = started.AddMinutes(3), Server = "test",
        }));
        return await repo.ReadManifestAsync(id);
    }

    private static async Task<(BackupRepository From, Dictionary<string, Dictionary<string, byte[]>> Content)> SourceAsync(string path, RepositorySecret? secret = null)
    {
        var from = await BackupRepository.InitAsync(new LocalDirectoryStore(path), 2, secret);
        var full = new Dictionary<string, byte[]> { ["databases/mailbox.bdb"] = Bytes(5 * Chunk + 100, 1, compressible: true), ["logs/bb00000001.log"] = Bytes(Chunk / 2, 2) };
        var incr = new Dictionary<string, byte[]> { ["logs/bb00000002.log"] = Bytes(Chunk + 7, 3) };
        await WriteSetAsync(from, "full0001", "full", null, 1, 1, full);
        await WriteSetAsync(from, "incr0002", "incremental", "full0001", 2, 2, incr);
        return (from, new() { ["full0001"] = full, ["incr0002"] = incr });
    }

    private static async Task<byte[]> ExtractAsync(BackupRepository repo, string setId, string path)
    {
        var m = await repo.ReadManifestAsync(setId);
        using var ms = new MemoryStream();
        await SetVerifier.ExtractAsync(repo, m, m.Files.Single(f => f.Path == path), ms);
        return ms.ToArray();
    }

    private static async Task AssertSameSetsAsync(BackupRepository from, BackupRepository to, Dictionary<string, Dictionary<string, byte[]>> content)
    {
        var a = await from.ListSetsAsync();
        var b = await to.ListSetsAsync();
        Assert.Equal(a.Select(m => (m.SetId, m.ParentSetId, m.Type, m.Started, m.Ended, m.GenLow, m.GenHigh, m.LogSignature, m.Instance)),
            b.Select(m => (m.SetId, m.ParentSetId, m.Type, m.Started, m.Ended, m.GenLow, m.GenHigh, m.LogSignature, m.Instance)));
        foreach (var m in b)
        {
            Assert.Equal(to.Id, m.RepositoryId);
            Assert.Empty(await SetVerifier.VerifyAsync(to, m));
            foreach (var (path, bytes) in content[m.SetId])
            {
                Assert.Equal(bytes, await ExtractAsync(to, m.SetId, path));
            }
        }
    }

    private static HashSet<string> ChunkNames(string repo) =>
        Directory.EnumerateFiles(Path.Combine(repo, "chunks"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToHashSet()!;

    [Fact]
    public async Task Every_set_arrives_whole_with_its_id_times_and_chain_and_a_second_copy_writes_nothing()
    {
        using var dir = new TempDir();
        var (from, content) = await SourceAsync(Path.Combine(dir.Path, "a"));
        var to = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")));

        var first = await RepositoryCopy.RunAsync(from, to, CopySelection.Everything, null, CancellationToken.None);
        Assert.Equal(["full0001", "incr0002"], first.Copied);
        Assert.True(first.WrittenBytes > 0);
        await AssertSameSetsAsync(from, to, content);
        Assert.Equal(ChunkNames(Path.Combine(dir.Path, "a")), ChunkNames(Path.Combine(dir.Path, "b"))); // plain to plain: the same ids

        var second = await RepositoryCopy.RunAsync(from, to, CopySelection.Everything, null, CancellationToken.None);
        Assert.Empty(second.Copied);
        Assert.Equal(["full0001", "incr0002"], second.AlreadyThere);
        Assert.Equal(0, second.ReadBytes);
        Assert.Equal(0, second.WrittenBytes);
    }

    [Fact]
    public async Task Plain_to_encrypted_and_back_re_keys_every_chunk()
    {
        using var dir = new TempDir();
        var (from, content) = await SourceAsync(Path.Combine(dir.Path, "a"));
        var secret = RepositorySecret.CreateKeyFile(Path.Combine(dir.Path, "b.key"));
        var sealedRepo = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")), 2, secret);
        await RepositoryCopy.RunAsync(from, sealedRepo, CopySelection.Everything, null, CancellationToken.None);
        await AssertSameSetsAsync(from, sealedRepo, content);
        Assert.Empty(ChunkNames(Path.Combine(dir.Path, "a")).Intersect(ChunkNames(Path.Combine(dir.Path, "b")))); // keyed ids
        var plainAgain = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "c")));
        var reopened = await BackupRepository.OpenAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")), RepositorySecret.KeyFile(Path.Combine(dir.Path, "b.key")));
        await RepositoryCopy.RunAsync(reopened, plainAgain, CopySelection.Everything, null, CancellationToken.None);
        await AssertSameSetsAsync(from, plainAgain, content);
        Assert.Equal(ChunkNames(Path.Combine(dir.Path, "a")), ChunkNames(Path.Combine(dir.Path, "c")));
    }

    [Fact]
    public async Task Encrypted_to_encrypted_under_another_key()
    {
        using var dir = new TempDir();
        var (from, content) = await SourceAsync(Path.Combine(dir.Path, "a"), RepositorySecret.CreateKeyFile(Path.Combine(dir.Path, "a.key")));
        var to = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")), 2, RepositorySecret.CreateKeyFile(Path.Combine(dir.Path, "b.key")));
        await RepositoryCopy.RunAsync(from, to, CopySelection.Everything, null, CancellationToken.None);
        await AssertSameSetsAsync(from, to, content);
        Assert.Empty(ChunkNames(Path.Combine(dir.Path, "a")).Intersect(ChunkNames(Path.Combine(dir.Path, "b"))));
    }

    [Fact]
    public async Task A_damaged_chunk_in_the_source_is_refused_and_named_and_the_destination_lists_no_set()
    {
        using var dir = new TempDir();
        var (from, _) = await SourceAsync(Path.Combine(dir.Path, "a"));
        var full = await from.ReadManifestAsync("full0001");
        var victim = full.Files[0].Chunks[2].Key;
        var path = Path.Combine(dir.Path, "a", victim);
        var bytes = File.ReadAllBytes(path);
        bytes[10] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var to = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")));

        var ex = await Assert.ThrowsAsync<CopySourceDamagedException>(() => RepositoryCopy.RunAsync(from, to, CopySelection.Everything, null, CancellationToken.None));
        Assert.Contains(victim, ex.Message, StringComparison.Ordinal);
        Assert.Contains("full0001", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CRC32C", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await to.ListSetsAsync());
    }

    [Fact]
    public async Task An_incremental_named_alone_brings_its_base_and_one_without_its_base_is_refused_naming_it()
    {
        using var dir = new TempDir();
        var (from, content) = await SourceAsync(Path.Combine(dir.Path, "a"));
        var to = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")));
        var r = await RepositoryCopy.RunAsync(from, to, new CopySelection("incr0002", false, null), null, CancellationToken.None);
        Assert.Equal(["full0001", "incr0002"], r.Copied);
        await AssertSameSetsAsync(from, to, content);

        await from.ForgetAsync("full0001");
        var orphanTo = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "c")));
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => RepositoryCopy.RunAsync(from, orphanTo, new CopySelection("incr0002", false, null), null, CancellationToken.None));
        Assert.Contains("full0001", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await orphanTo.ListSetsAsync());
    }

    [Fact]
    public async Task Since_copies_the_sets_ended_after_it_with_their_chain()
    {
        using var dir = new TempDir();
        var (from, _) = await SourceAsync(Path.Combine(dir.Path, "a"));
        await WriteSetAsync(from, "full0003", "full", null, 3, 3, new() { ["databases/mailbox.bdb"] = Bytes(Chunk, 9) });
        var to = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")));
        var since = (await from.ReadManifestAsync("full0003")).Ended;
        var r = await RepositoryCopy.RunAsync(from, to, new CopySelection(null, false, since), null, CancellationToken.None);
        Assert.Equal(["full0003"], r.Copied);
        Assert.Equal(["full0003"], (await to.ListSetsAsync()).Select(m => m.SetId));
    }

    [Fact]
    public async Task A_chunk_stored_with_another_codec_is_re_compressed_for_the_set()
    {
        using var dir = new TempDir();
        var from = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "a")));
        var image = Bytes(3 * Chunk, 4, compressible: true);
        await WriteSetAsync(from, "zstd0001", "full", null, 1, 1, new() { ["databases/x.bdb"] = image }, Codec.Default());
        await WriteSetAsync(from, "none0002", "full", null, 2, 2, new() { ["databases/x.bdb"] = image }, Codec.None); // reuses the compressed chunks
        var to = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")));

        await RepositoryCopy.RunAsync(from, to, new CopySelection("none0002", false, null), null, CancellationToken.None);
        var copied = await to.ReadManifestAsync("none0002");
        Assert.Equal("none", copied.Codec);
        Assert.All(copied.Files.SelectMany(f => f.Chunks), c => Assert.Equal(c.RawSize + Blueback.Repository.Chunks.ChunkObject.TrailerSize, c.StoredSize));
        Assert.Empty(await SetVerifier.VerifyAsync(to, copied));
        Assert.Equal(image, await ExtractAsync(to, "none0002", "databases/x.bdb"));
    }

    [Fact]
    public async Task An_interrupted_copy_lists_no_partial_set_and_a_rerun_reuses_the_whole_chunks_and_rewrites_a_torn_one()
    {
        using var dir = new TempDir();
        var (from, content) = await SourceAsync(Path.Combine(dir.Path, "a"));
        var bPath = Path.Combine(dir.Path, "b");
        await BackupRepository.InitAsync(new LocalDirectoryStore(bPath));
        var failing = new FailingStore(new LocalDirectoryStore(bPath), chunkWritesAllowed: 3);
        var to = await BackupRepository.OpenAsync(failing);
        to.Parallelism = 1;
        await Assert.ThrowsAsync<IOException>(() => RepositoryCopy.RunAsync(from, to, CopySelection.Everything, null, CancellationToken.None));
        Assert.Empty(await to.ListSetsAsync());
        var left = ChunkNames(bPath);
        Assert.Equal(3, left.Count);
        var torn = Directory.EnumerateFiles(Path.Combine(bPath, "chunks"), "*", SearchOption.AllDirectories).First();
        File.WriteAllBytes(torn, File.ReadAllBytes(torn)[..100]);

        var again = await BackupRepository.OpenAsync(new LocalDirectoryStore(bPath));
        var r = await RepositoryCopy.RunAsync(from, again, CopySelection.Everything, null, CancellationToken.None);
        Assert.Equal(["full0001", "incr0002"], r.Copied);
        var all = (await again.ListSetsAsync()).SelectMany(m => m.Files).SelectMany(f => f.Chunks).DistinctBy(c => c.Key).ToList();
        var reused = all.Where(c => left.Contains(Path.GetFileName(c.Key)) && Path.GetFileName(c.Key) != Path.GetFileName(torn)).Sum(c => (long)c.StoredSize);
        Assert.Equal(2, left.Count - 1);
        Assert.Equal(all.Sum(c => (long)c.StoredSize) - reused, r.WrittenBytes);
        await AssertSameSetsAsync(from, again, content);
    }

    [Fact]
    public async Task Shipped_generations_are_copied_with_all_and_since_but_not_with_one_set()
    {
        using var dir = new TempDir();
        var (from, _) = await SourceAsync(Path.Combine(dir.Path, "a"));
        var log = Bytes(Chunk * 2 + 5, 11);
        var key = new ShippedKey("store", "sig", 3);
        var w = from.BeginShipped(key, Codec.Default(), Chunk);
        await w.AddFileAsync("logs/bb00000003.log", new MemoryStream(log));
        var ended = new DateTime(2026, 11, 2, 0, 0, 0, DateTimeKind.Utc);
        await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = BackupRepository.ShippedType, LogSignature = "sig", GenLow = 3, GenHigh = 3, Started = ended, Ended = ended, LogsCover = ended }));

        var oneSet = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "b")));
        await RepositoryCopy.RunAsync(from, oneSet, new CopySelection("full0001", false, null), null, CancellationToken.None);
        Assert.Empty(await oneSet.ListShippedAsync(null));

        var late = await BackupRepository.InitAsync(new LocalDirectoryStore(Path.Combine(dir.Path, "c")));
        var r = await RepositoryCopy.RunAsync(from, late, new CopySelection(null, false, ended.AddSeconds(1)), null, CancellationToken.None);
        Assert.Equal(0, r.ShippedCopied);

        var all = await RepositoryCopy.RunAsync(from, oneSet, CopySelection.Everything, null, CancellationToken.None);
        Assert.Equal(1, all.ShippedCopied);
        Assert.Equal([key], await oneSet.ListShippedAsync(null));
        var copied = await oneSet.ReadShippedAsync(key);
        Assert.Equal(ended, copied.LogsCover);
        using var ms = new MemoryStream();
        await SetVerifier.ExtractAsync(oneSet, copied, copied.Files.Single(), ms);
        Assert.Equal(log, ms.ToArray());
        Assert.Equal(1, (await RepositoryCopy.RunAsync(from, oneSet, CopySelection.Everything, null, CancellationToken.None)).ShippedAlreadyThere);
    }

    /// <summary>Fails every chunk write after the first few, as a copy killed in mid-set.</summary>
    private sealed class FailingStore(IRepositoryStore inner, int chunkWritesAllowed) : DelegatingStore(inner)
    {
        private int _writes;

        private void Count(string key)
        {
            if (key.StartsWith(BackupRepository.ChunksRoot + "/", StringComparison.Ordinal) && Interlocked.Increment(ref _writes) > chunkWritesAllowed)
            {
                throw new IOException($"injected: chunk write {key} refused");
            }
        }

        public override Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            Count(key);
            return Inner.WriteAsync(key, data, cancellationToken);
        }

        public override Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            Count(key);
            return Inner.WriteAtomicAsync(key, data, cancellationToken);
        }
    }
}
