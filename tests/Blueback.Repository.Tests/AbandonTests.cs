using Blueback.Repository.Compression;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>An abandoned writer whose chunk write outlives the abandon (an fsync on a busy disk, a hung volume)
/// removes what it left once that write has ended, and tells when (<see cref="BackupSetWriter.CleanedUp"/>): a
/// retry of the same set (a shipped generation shipped again after a failed try) waits for it, or the late removal
/// would take the retry's committed set with it.</summary>
public sealed class AbandonTests
{
    private const int Chunk = 64 * 1024;

    [Theory(Timeout = 60_000)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_write_that_outlives_its_abandon_is_removed_once_it_ends_and_a_retry_after_that_keeps_its_set(int format)
    {
        using var dir = new TempDir();
        var store = new HeldStore(new LocalDirectoryStore(dir.Path));
        var repo = await BackupRepository.InitAsync(store, format, null);
        var data = new byte[2 * Chunk];
        new Random(format).NextBytes(data);

        var first = repo.BeginSet("s", Codec.None, Chunk);
        store.HoldNextChunk();
        var adding = first.AddFileAsync("logs/E0000006.log", new MemoryStream(data));
        Assert.True(await store.Holding.WaitAsync(TimeSpan.FromSeconds(20)), "no chunk write reached the store");
        await first.AbandonAsync(TimeSpan.FromMilliseconds(200));
        Assert.False(first.CleanedUp.IsCompleted, "the abandon reported its clean-up done while one of its writes still ran");

        store.Release();
        await first.CleanedUp.WaitAsync(TimeSpan.FromSeconds(20));
        _ = await Record.ExceptionAsync(() => adding); // cancelled or not, as it happened to be
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "sets", "s")), "the late write's leftovers were not removed");

        var retry = repo.BeginSet("s", Codec.None, Chunk);
        await retry.AddFileAsync("logs/E0000006.log", new MemoryStream(data));
        await retry.CommitAsync(retry.Describing(new Manifest { Instance = "store", Type = "full" }));
        var set = Assert.Single(await repo.ListSetsAsync());
        Assert.Empty(await SetVerifier.VerifyAsync(repo, set));
    }

    /// <summary>A local store whose next chunk write, once asked for, stops before the disk until released, deaf to
    /// its token: a write already in the kernel.</summary>
    private sealed class HeldStore(IRepositoryStore inner) : DelegatingStore(inner)
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _armed;

        public SemaphoreSlim Holding { get; } = new(0);

        public void HoldNextChunk() => Volatile.Write(ref _armed, 1);

        public void Release() => _release.TrySetResult();

        public override async Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (key.Contains("chunks/", StringComparison.Ordinal) && Interlocked.Exchange(ref _armed, 0) == 1)
            {
                Holding.Release();
                await _release.Task.ConfigureAwait(false);
                await Inner.WriteAsync(key, data, CancellationToken.None).ConfigureAwait(false);
                return;
            }
            await Inner.WriteAsync(key, data, cancellationToken).ConfigureAwait(false);
        }
    }
}
