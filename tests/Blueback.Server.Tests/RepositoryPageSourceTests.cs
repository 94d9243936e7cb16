using System.Text;
using Blueback.Backup;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;
using Blueback.Server.Repair;
using Blueback.Storage;
using Blueback.Storage.Backup;
using Blueback.Storage.Diagnostics;
using Blueback.Storage.Format;
using Blueback.Storage.Repair;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blueback.Server.Tests;

/// <summary>A backup repository as a page repair source (docs/engine.md, "Pages that repair themselves"): the newest set
/// of the instance's log stream holding the database gives the page, read from the chunk that holds it alone and
/// checked; the set's logs are replayed onto it, and the engine replays its own from there.</summary>
public class RepositoryPageSourceTests
{
    private const int Keys = 400;
    private const int ChunkSize = 64 << 10; // eight pages: an image of many chunks
    private static readonly InstanceOptions Options = new() { Name = "store", LogGenerationSize = 1 << 20, SummarizeInBackground = false };

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Value(string version, int i) => B(string.Concat(Enumerable.Repeat($"{version}-{i:D4};", 150)));

    private static void Write(StorageInstance inst, string version)
    {
        using var tx = inst.BeginWrite();
        for (int i = 0; i < Keys; i++)
        {
            tx.Put(inst.GetDatabase("mailbox"), "t", B($"k{i:D4}"), Value(version, i));
        }
        tx.Commit(CommitMode.Durable);
    }

    /// <summary>Takes a full backup of the instance into the repository, in process, as the backup program lays a set
    /// out; truncates the instance's log when asked, as a full backup does.</summary>
    private static async Task<Manifest> TakeAsync(BackupRepository repo, StorageInstance inst, string setId, bool truncate = false)
    {
        var backup = inst.BeginBackup(BackupType.Full);
        var writer = repo.BeginSet(setId, Codec.None, ChunkSize);
        foreach (var d in backup.Databases)
        {
            using var image = backup.OpenDatabaseImage(d.Name);
            await writer.AddFileAsync(SetLayout.DatabasePath(d.Name), image);
        }
        foreach (var g in backup.ListLogs())
        {
            using var log = backup.OpenLog(g.Generation);
            await writer.AddFileAsync(SetLayout.LogPath(g.Generation), log);
        }
        if (truncate)
        {
            backup.Truncate();
        }
        var manifest = new Manifest
        {
            FormatVersion = repo.Format,
            RepositoryId = repo.Id,
            SetId = setId,
            Codec = writer.CodecName,
            Files = [.. writer.Files],
            Instance = inst.Name,
            Type = "full",
            Ended = DateTime.UtcNow,
            LogSignature = inst.LogSignature.Id.ToString("N"),
            GenLow = backup.GenLow,
            GenHigh = backup.GenHigh!.Value,
            Databases = backup.Databases.Select(d => new ManifestDatabase { Name = d.Name, Id = d.Id, Signature = d.Signature.Id.ToString("N"), PageSize = d.PageSize }).ToList(),
        };
        await writer.CommitAsync(manifest);
        backup.End();
        return manifest;
    }

    /// <summary>An instance written three times: a set after the first ("older"), a set after the second ("newer"), the
    /// third only in its own log; closed.</summary>
    private static async Task<(BackupRepository Repo, Manifest Older, Manifest Newer)> PrepareAsync(TempDir dir, int format)
    {
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir["repo"]), format, null);
        using var inst = StorageInstance.Create(dir["inst"], Options);
        inst.CreateDatabase("mailbox");
        Write(inst, "v1");
        var older = await TakeAsync(repo, inst, "older");
        Write(inst, "v2");
        var newer = await TakeAsync(repo, inst, "newer");
        Write(inst, "v3");
        return (repo, older, newer);
    }

    /// <summary>Flips a byte in every page the set's image holds that is in use, under a closed instance; returns them.</summary>
    private static List<uint> Damage(string file, Manifest set)
    {
        int pageSize = set.Databases[0].PageSize;
        long imagePages = set.Files.First(f => f.Path == SetLayout.DatabasePath("mailbox")).Size / pageSize - 1; // the trailer page last
        var damaged = new List<uint>();
        using var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
        for (uint p = 2; p < imagePages && (p + 1) * pageSize <= fs.Length; p++)
        {
            var page = new byte[pageSize];
            fs.Position = p * pageSize;
            fs.ReadExactly(page);
            if (!page.AsSpan().ContainsAnyExcept((byte)0))
            {
                continue;
            }
            page[pageSize / 2] ^= 0xFF;
            fs.Position = p * pageSize;
            fs.Write(page);
            damaged.Add(p);
        }
        return damaged;
    }

    private static RepositoryPageSource Source(BackupRepository repo, string location, PageRepairLog log) =>
        new(location, _ => Task.FromResult(repo), log);

    [Theory(Timeout = 120_000)]
    [InlineData(2)]
    [InlineData(1)]
    public async Task Damaged_pages_are_repaired_from_the_newest_set_and_the_instance_s_log_and_every_read_answers_right(int format)
    {
        using var dir = new TempDir();
        var (repo, _, newer) = await PrepareAsync(dir, format);
        var file = Path.Combine(dir["inst"], "mailbox.bdb");
        var damaged = Damage(file, newer);
        Assert.NotEmpty(damaged);
        Assert.False(DatabaseCheck.Checksum(file).Ok);
        using var log = new PageRepairLog(NullLogger.Instance);
        using var source = Source(repo, dir["repo"], log);
        await Task.Run(() =>
        {
            using var inst = StorageInstance.Open(dir["inst"], Options with { PageRepair = source });
            using var r = inst.BeginRead();
            for (int i = 0; i < Keys; i++)
            {
                Assert.Equal(Value("v3", i), r.Get(inst.GetDatabase("mailbox"), "t", B($"k{i:D4}")));
            }
            Assert.True(inst.PagesRepaired > 0);
        });
        Assert.NotEmpty(log.Recent);
        Assert.All(log.Recent, r =>
        {
            Assert.True(r.Repaired, r.Detail);
            Assert.Equal($"repository {dir["repo"]} set {newer.SetId}", r.Source); // the newest set, not "older"
            Assert.Contains($"applied through {newer.GenHigh + 1}:0", r.Detail, StringComparison.Ordinal);
        });
        Assert.Contains(log.Recent, r => System.Text.RegularExpressions.Regex.IsMatch(r.Detail, ", [1-9][0-9]* later change")); // v3 came from the instance's log
    }

    [Fact(Timeout = 60_000)]
    public async Task Only_the_chunk_that_holds_the_page_is_read()
    {
        using var dir = new TempDir();
        var (repo, _, newer) = await PrepareAsync(dir, 2);
        var image = newer.Files.First(f => f.Path == SetLayout.DatabasePath("mailbox"));
        const uint page = 20;
        int pageSize = newer.Databases[0].PageSize;
        long at = 0;
        string? holding = null;
        foreach (var c in image.Chunks)
        {
            if (at <= page * pageSize && page * pageSize < at + c.RawSize)
            {
                holding = c.Key;
            }
            at += c.RawSize;
        }
        Assert.NotNull(holding);
        Assert.True(image.Chunks.Count > 4, "the image should span many chunks");
        // Every other chunk of the image is gone: a fetch that read any of them would fail.
        foreach (var c in image.Chunks.Where(c => c.Key != holding))
        {
            File.Delete(Path.Combine(dir["repo"], c.Key));
        }
        using var log = new PageRepairLog(NullLogger.Instance);
        using var source = Source(repo, dir["repo"], log);
        var (logSig, dbSig) = Signatures(dir);
        var got = await source.FetchAsync(new PageRepairRequest("store", "mailbox", dbSig, logSig, page, pageSize), CancellationToken.None);
        Assert.True(PageRedo.IsIntact(got.Data, page));
        Assert.Equal(new Lsn(newer.GenHigh + 1, 0), got.AppliedThrough);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_damaged_chunk_is_refused_naming_the_set_and_the_chunk()
    {
        using var dir = new TempDir();
        var (repo, _, newer) = await PrepareAsync(dir, 2);
        var image = newer.Files.First(f => f.Path == SetLayout.DatabasePath("mailbox"));
        var chunk = image.Chunks[1]; // pages 8 to 15
        var path = Path.Combine(dir["repo"], chunk.Key);
        var bytes = File.ReadAllBytes(path);
        bytes[100] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        using var log = new PageRepairLog(NullLogger.Instance);
        using var source = Source(repo, dir["repo"], log);
        var (logSig, dbSig) = Signatures(dir);
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => source.FetchAsync(new PageRepairRequest("store", "mailbox", dbSig, logSig, 9, newer.Databases[0].PageSize), CancellationToken.None));
        Assert.Contains($"set {newer.SetId}", ex.Message, StringComparison.Ordinal);
        Assert.Contains(chunk.Key, ex.Message, StringComparison.Ordinal);
        Assert.Contains("CRC32C mismatch", ex.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_database_of_another_signature_or_instance_has_no_set_to_repair_from()
    {
        using var dir = new TempDir();
        var (repo, _, newer) = await PrepareAsync(dir, 2);
        using var log = new PageRepairLog(NullLogger.Instance);
        using var source = Source(repo, dir["repo"], log);
        var (logSig, dbSig) = Signatures(dir);
        int pageSize = newer.Databases[0].PageSize;
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => source.FetchAsync(new PageRepairRequest("store", "mailbox", Signature.New(), logSig, 5, pageSize), CancellationToken.None));
        Assert.Contains("holds no committed set of instance store with a whole image of database 'mailbox'", ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<RepositoryException>(() => source.FetchAsync(new PageRepairRequest("directory", "mailbox", dbSig, logSig, 5, pageSize), CancellationToken.None));
        Assert.Contains("take a full backup into it", ex.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_log_truncated_past_the_set_fails_the_read_naming_the_missing_generation()
    {
        using var dir = new TempDir();
        var (repo, _, newer) = await PrepareAsync(dir, 2);
        using (var inst = StorageInstance.Open(dir["inst"], Options))
        {
            var elsewhere = await BackupRepository.InitAsync(new LocalDirectoryStore(dir["elsewhere"]));
            await TakeAsync(elsewhere, inst, "elsewhere", truncate: true); // a full backup into another repository
        }
        var file = Path.Combine(dir["inst"], "mailbox.bdb");
        Damage(file, newer);
        using var log = new PageRepairLog(NullLogger.Instance);
        using var source = Source(repo, dir["repo"], log);
        await Task.Run(() =>
        {
            using var inst = StorageInstance.Open(dir["inst"], Options with { PageRepair = source });
            using var r = inst.BeginRead();
            var ex = Assert.Throws<PageCorruptException>(() =>
            {
                for (int i = 0; i < Keys; i++)
                {
                    r.Get(inst.GetDatabase("mailbox"), "t", B($"k{i:D4}"));
                }
            });
            Assert.Contains($"no longer holds generation {newer.GenHigh + 1}", ex.Message, StringComparison.Ordinal);
            Assert.Contains("Take a full backup into the repository", ex.Message, StringComparison.Ordinal);
        });
        Assert.Contains(log.Recent, r => !r.Repaired && r.Source == $"repository {dir["repo"]} set {newer.SetId}");
    }

    private static (Signature Log, Signature Database) Signatures(TempDir dir)
    {
        using var inst = StorageInstance.Open(dir["inst"], Options);
        return (inst.LogSignature, inst.GetDatabase("mailbox").Signature);
    }
}
