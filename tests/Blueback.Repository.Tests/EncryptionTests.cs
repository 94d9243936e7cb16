using System.Security.Cryptography;
using System.Text;
using Blueback.Repository.Compression;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>An encrypted repository: every chunk and manifest sealed with AES-256-GCM under keys a passphrase or key
/// file unwraps; nothing readable in the store.</summary>
public class EncryptionTests
{
    private const string Marker = "PLAINTEXT-MARKER-7f3a";
    private const string InstanceMarker = "instance-marker-91c2";

    private static byte[] Content()
    {
        // Compressible text with a marker throughout, as keys and values are in a log or a page.
        var sb = new StringBuilder();
        for (int i = 0; i < 40_000; i++)
        {
            sb.Append(Marker).Append(':').Append(i).Append(';');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static async Task<Manifest> OneSetAsync(BackupRepository repo, byte[] content, Codec codec)
    {
        var w = repo.BeginSet("s1", codec, 64 << 10);
        await w.AddFileAsync("databases/marker-db.bdb", new MemoryStream(content));
        await w.CommitAsync(w.Describing(new Manifest { Instance = InstanceMarker, Type = "full", Server = "server-marker" }));
        return await repo.ReadManifestAsync("s1");
    }

    private static async Task<byte[]> ExtractAsync(BackupRepository repo, Manifest m)
    {
        using var ms = new MemoryStream();
        await SetVerifier.ExtractAsync(repo, m, m.Files[0], ms);
        return ms.ToArray();
    }

    private static RepositorySecret NewKeyFile(TempDir dir, string name) => RepositorySecret.CreateKeyFile(Path.Combine(dir.Path, name));

    [Theory]
    [InlineData("zstd")]
    [InlineData("none")]
    public async Task Nothing_in_an_encrypted_repository_is_readable_and_everything_round_trips(string codecName)
    {
        using var dir = new TempDir();
        using var keys = new TempDir();
        var secret = NewKeyFile(keys, "key");
        var store = new LocalDirectoryStore(dir.Path);
        var repo = await BackupRepository.InitAsync(store, BackupRepository.FormatVersion, secret);
        var content = Content();
        var m = await OneSetAsync(repo, content, codecName == "zstd" ? Codec.Default() : Codec.None);
        Assert.Equal(InstanceMarker, m.Instance);
        Assert.Empty(await SetVerifier.VerifyAsync(repo, m));
        Assert.Equal(content, await ExtractAsync(repo, m));

        // No marker, no file or instance name, and no content hash anywhere in the store.
        var contentHashes = m.Files[0].Chunks.Select((c, i) => Convert.ToHexStringLower(SHA256.HashData(content.AsSpan(i * (64 << 10), c.RawSize)))).ToList();
        var needles = new[] { Marker, InstanceMarker, "marker-db", "server-marker", "databases/" }.Concat(contentHashes).Select(Encoding.UTF8.GetBytes).ToList();
        needles.Add(File.ReadAllBytes(Path.Combine(keys.Path, "key")));
        int files = 0;
        foreach (var f in Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(f);
            files++;
            foreach (var n in needles)
            {
                Assert.True(bytes.AsSpan().IndexOf(n) < 0, $"'{Path.GetRelativePath(dir.Path, f)}' holds '{Encoding.UTF8.GetString(n)}' in the clear");
            }
        }
        Assert.True(files >= 4, "config, manifest and chunks were looked at");

        // Reopened with the same key file: readable again.
        var again = await BackupRepository.OpenAsync(store, RepositorySecret.KeyFile(Path.Combine(keys.Path, "key")));
        Assert.Equal(content, await ExtractAsync(again, await again.ReadManifestAsync("s1")));
    }

    [Fact]
    public async Task A_wrong_or_missing_secret_is_a_clear_error_never_garbage()
    {
        using var dir = new TempDir();
        using var keys = new TempDir();
        var store = new LocalDirectoryStore(dir.Path);
        await BackupRepository.InitAsync(store, BackupRepository.FormatVersion, NewKeyFile(keys, "right"));
        var wrong = NewKeyFile(keys, "wrong");
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.OpenAsync(store, wrong));
        Assert.Contains("does not open repository", ex.Message, StringComparison.Ordinal);
        Assert.Contains("wrong", ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.OpenAsync(store, null));
        Assert.Contains("--key-file", ex.Message, StringComparison.Ordinal);
        Assert.Contains(RepositorySecret.PasswordVariable, ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.OpenAsync(store, RepositorySecret.Passphrase("a passphrase")));
        Assert.Contains("key file", ex.Message, StringComparison.Ordinal);
        File.WriteAllBytes(Path.Combine(keys.Path, "short"), new byte[8]);
        ex = Assert.Throws<RepositoryException>(() => RepositorySecret.KeyFile(Path.Combine(keys.Path, "short")));
        Assert.Contains("at least 32", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_passphrase_opens_with_pbkdf2_and_can_be_changed_without_rewriting_data()
    {
        using var dir = new TempDir();
        using var keys = new TempDir();
        var store = new LocalDirectoryStore(dir.Path);
        var repo = await BackupRepository.InitAsync(store, BackupRepository.FormatVersion, RepositorySecret.Passphrase("correct horse"));
        Assert.Equal(RepositoryKeys.PassphraseKdf, repo.Config.Encryption!.Kdf);
        Assert.Equal(RepositoryKeys.PassphraseIterations, repo.Config.Encryption.Iterations);
        var content = Content();
        var m = await OneSetAsync(repo, content, Codec.Default());
        var before = Directory.EnumerateFiles(Path.Combine(dir.Path, "chunks"), "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);

        await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.OpenAsync(store, RepositorySecret.Passphrase("battery staple")));
        await repo.ChangeSecretAsync(NewKeyFile(keys, "new"));
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => BackupRepository.OpenAsync(store, RepositorySecret.Passphrase("correct horse")));
        Assert.Contains("key file", ex.Message, StringComparison.Ordinal);
        var reopened = await BackupRepository.OpenAsync(store, RepositorySecret.KeyFile(Path.Combine(keys.Path, "new")));
        Assert.Equal(content, await ExtractAsync(reopened, await reopened.ReadManifestAsync(m.SetId)));
        foreach (var (f, bytes) in before)
        {
            Assert.Equal(bytes, File.ReadAllBytes(f)); // no chunk rewritten
        }
        await reopened.ChangeSecretAsync(RepositorySecret.Passphrase("battery staple"));
        Assert.NotNull(await BackupRepository.OpenAsync(store, RepositorySecret.Passphrase("battery staple")));
    }

    [Fact]
    public async Task A_flipped_byte_is_named_by_verify_and_refused_by_reads()
    {
        using var dir = new TempDir();
        using var keys = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path), BackupRepository.FormatVersion, NewKeyFile(keys, "k"));
        var m = await OneSetAsync(repo, Content(), Codec.Default());
        var key = m.Files[0].Chunks[0].Key;
        var path = Path.Combine(dir.Path, key);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 3] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var p = Assert.Single(await SetVerifier.VerifyAsync(repo, m));
        Assert.Contains(key, p, StringComparison.Ordinal);
        Assert.Contains("authentication", p, StringComparison.Ordinal);
        await Assert.ThrowsAsync<RepositoryException>(() => ExtractAsync(repo, m));

        var manifestPath = Path.Combine(dir.Path, BackupRepository.ManifestKey("s1"));
        var sealedManifest = File.ReadAllBytes(manifestPath);
        sealedManifest[^5] ^= 1;
        File.WriteAllBytes(manifestPath, sealedManifest);
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => repo.ReadManifestAsync("s1"));
        Assert.Contains("sets/s1/manifest.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains("authentication", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_content_seals_to_the_same_chunk_so_sets_share_it_and_ids_differ_between_repositories()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        using var keys = new TempDir();
        var ra = await BackupRepository.InitAsync(new LocalDirectoryStore(a.Path), BackupRepository.FormatVersion, NewKeyFile(keys, "a"));
        var rb = await BackupRepository.InitAsync(new LocalDirectoryStore(b.Path), BackupRepository.FormatVersion, NewKeyFile(keys, "b"));
        var content = Content();
        var ma = await OneSetAsync(ra, content, Codec.Default());
        var mb = await OneSetAsync(rb, content, Codec.Default());
        Assert.Empty(ma.Files[0].Chunks.Select(c => c.Key).Intersect(mb.Files[0].Chunks.Select(c => c.Key)));
        var w = ra.BeginSet("s2", Codec.Default(), 64 << 10, BackupRepository.KnownChunks([ma]));
        await w.AddFileAsync("databases/marker-db.bdb", new MemoryStream(content));
        await w.FlushAsync();
        Assert.Equal(0, w.StoredBytes);
        Assert.Equal(content.Length, w.ReusedBytes);
    }
}
