using System.Text;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

public class RepositoryTests
{
    private static byte[] Data(int size, int seed)
    {
        var b = new byte[size];
        var rng = new Random(seed);
        // Half random, half repetitive: compressible like real pages.
        rng.NextBytes(b.AsSpan(0, size / 2));
        return b;
    }

    private static async Task<(BackupRepository Repo, Manifest Manifest, Dictionary<string, byte[]> Files)> OneSetAsync(string dir, Codec codec)
    {
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir));
        var files = new Dictionary<string, byte[]>
        {
            ["databases/mailbox.bdb"] = Data(3 * 1024 * 1024 + 123, 1),
            ["logs/bb00000001.log"] = Data(1 << 20, 2),
            ["logs/empty.log"] = [],
        };
        var w = repo.BeginSet(Guid.NewGuid().ToString("N"), codec, chunkSize: 1 << 20);
        foreach (var (path, bytes) in files)
        {
            await w.AddFileAsync(path, new MemoryStream(bytes));
        }
        await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = 1, GenHigh = 1 }));
        var m = Assert.Single(await repo.ListSetsAsync());
        return (repo, m, files);
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("none")]
    [InlineData("brotli")]
    public async Task A_set_round_trips_and_verifies(string codecName)
    {
        using var dir = new TempDir();
        var codec = codecName == "zstd" ? Codec.Default() : Codec.ByName(codecName);
        var (repo, m, files) = await OneSetAsync(dir.Path, codec);
        Assert.Equal(codec.Name, m.Codec);
        Assert.Empty(await SetVerifier.VerifyAsync(repo, m));
        foreach (var f in m.Files)
        {
            using var ms = new MemoryStream();
            await SetVerifier.ExtractAsync(repo, m, f, ms);
            Assert.Equal(files[f.Path], ms.ToArray());
        }
        if (codecName != "none")
        {
            Assert.True(m.Files.Sum(f => f.Chunks.Sum(c => c.StoredSize)) < m.Files.Sum(f => f.Size), "nothing was compressed");
        }
    }

    [Fact]
    public void The_system_zstd_library_is_used()
    {
        Assert.True(Zstd.IsAvailable, "libzstd.so.1 should be on every machine here");
        Assert.StartsWith("zstd", Codec.Default().Name, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_set_without_a_committed_manifest_does_not_exist_and_gc_removes_it()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var w = repo.BeginSet("abandoned", Codec.None);
        await w.AddFileAsync("databases/x.bdb", new MemoryStream(Data(1000, 3)));
        await w.FlushAsync();
        Assert.Empty(await repo.ListSetsAsync());
        // Young: it may be a backup still being written, so gc leaves it within the grace period.
        var young = await repo.CollectGarbageAsync(BackupRepository.DefaultGrace);
        Assert.Equal(["abandoned"], young.Young);
        Assert.Empty(young.Removed);
        Assert.True(Directory.Exists(Path.Combine(dir.Path, "sets", "abandoned")));
        var old = await repo.CollectGarbageAsync(TimeSpan.Zero);
        Assert.Equal(["abandoned"], old.Removed);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "sets", "abandoned")));
    }

    [Fact]
    public async Task Damage_anywhere_is_found_and_named()
    {
        using var dir = new TempDir();
        var (repo, m, _) = await OneSetAsync(dir.Path, Codec.Default());
        var chunk = m.Files[0].Chunks[1];
        var chunkPath = Path.Combine(dir.Path, chunk.Key);
        var bytes = await File.ReadAllBytesAsync(chunkPath);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(chunkPath, bytes);
        var problems = await SetVerifier.VerifyAsync(repo, m);
        var p = Assert.Single(problems);
        Assert.Contains(chunk.Key, p, StringComparison.Ordinal);
        Assert.Contains("databases/mailbox.bdb", p, StringComparison.Ordinal);

        File.Delete(Path.Combine(dir.Path, m.Files[1].Chunks[0].Key));
        problems = await SetVerifier.VerifyAsync(repo, m);
        Assert.Contains(problems, x => x.Contains("missing", StringComparison.Ordinal) && x.Contains("logs/bb00000001.log", StringComparison.Ordinal));

        var manifestPath = Path.Combine(dir.Path, BackupRepository.ManifestKey(m.SetId));
        var text = await File.ReadAllTextAsync(manifestPath);
        await File.WriteAllTextAsync(manifestPath, text.Replace("\"genHigh\": 1", "\"genHigh\": 2", StringComparison.Ordinal));
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => repo.ReadManifestAsync(m.SetId));
        Assert.Contains("checksum", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_set_from_another_repository_and_an_unknown_format_are_refused()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        var (_, m, _) = await OneSetAsync(a.Path, Codec.None);
        var other = await BackupRepository.InitAsync(new LocalDirectoryStore(b.Path));
        var from = Path.Combine(a.Path, "sets", m.SetId);
        var to = Path.Combine(b.Path, "sets", m.SetId);
        foreach (var f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var t = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(t)!);
            File.Copy(f, t);
        }
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => other.ReadManifestAsync(m.SetId));
        Assert.Contains("belongs to repository", ex.Message, StringComparison.Ordinal);

        var config = Path.Combine(b.Path, "config.json");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(config)).Replace("\"formatVersion\": 2", "\"formatVersion\": 7", StringComparison.Ordinal));
        ex = await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.OpenAsync(new LocalDirectoryStore(b.Path)));
        Assert.Contains("format version 7", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.InitAsync(new LocalDirectoryStore(a.Path)));
    }
}
