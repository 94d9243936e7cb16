using Blueback.Protocol.Programs;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;
using Blueback.Repository.Tests;

namespace Blueback.Backup.Tests;

/// <summary><c>list --also</c>: which sets a second repository holds.</summary>
public class ListingTests
{
    [Fact]
    public async Task A_set_forgotten_in_an_immutable_second_repository_is_not_counted_as_held_there()
    {
        using var dir = new TempDir();
        var store = new LocalDirectoryStore(Path.Combine(dir.Path, "b"));
        var b = await BackupRepository.InitAsync(store, BackupRepository.FormatVersion, null, ImmutabilityConfig.Create(1, LockMode.Compliance));
        foreach (var id in new[] { "kept", "forgotten" })
        {
            var w = b.BeginSet(id, Codec.Default(), 64 << 10);
            await w.AddFileAsync("databases/x.bdb", new MemoryStream(new byte[64 << 10]));
            await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = 1, GenHigh = 1, Ended = DateTime.UtcNow }));
        }
        await b.ForgetAsync("forgotten");
        Assert.True(await store.ExistsAsync(BackupRepository.ManifestKey("forgotten"), CancellationToken.None)); // kept until its lock passes

        var sets = new[] { "kept", "forgotten", "never" }.Select(id => new ListedSet { Id = id }).ToList();
        await RepositoryListing.MarkAlsoInAsync(sets, store, CancellationToken.None);
        Assert.Equal([true, false, false], sets.Select(s => s.AlsoIn));
    }
}
