using System.Buffers.Binary;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>Readers beside writers never see uncommitted or half-committed state; commits share flushes.</summary>
public class ConcurrencyTests
{
    private const int Accounts = 20;

    private static long Balance(byte[]? v) => BinaryPrimitives.ReadInt64LittleEndian(v);

    private static byte[] Amount(long v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        return b;
    }

    [Fact(Timeout = 120_000)]
    public async Task Readers_see_whole_transactions_only_while_writers_commit()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options);
        var a = inst.CreateDatabase("a");
        var b = inst.CreateDatabase("b");
        using (var tx = inst.BeginWrite())
        {
            for (int i = 0; i < Accounts; i++)
            {
                tx.Put(a, "acct", B($"{i:D3}"), Amount(1000));
            }
            tx.Commit();
        }
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        long commits = 0, checks = 0;
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var rng = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                using var tx = await inst.BeginWriteAsync();
                int from = rng.Next(Accounts), to = rng.Next(Accounts);
                long amt = rng.Next(1, 100);
                tx.Put(a, "acct", B($"{from:D3}"), Amount(Balance(tx.Get(a, "acct", B($"{from:D3}"))) - amt));
                tx.Put(a, "acct", B($"{to:D3}"), Amount(Balance(tx.Get(a, "acct", B($"{to:D3}"))) + amt));
                // The same transaction counts itself in a second database.
                var n = tx.Get(b, "count", B("n"));
                tx.Put(b, "count", B("n"), Amount((n is null ? 0 : Balance(n)) + 1));
                tx.Put(a, "log", B($"{w}-{rng.Next()}"), new byte[rng.Next(10, 3000)]);
                if (rng.Next(10) == 0)
                {
                    tx.Rollback();
                    continue;
                }
                await tx.CommitAsync(rng.Next(4) == 0 ? CommitMode.Lazy : CommitMode.Durable);
                Interlocked.Increment(ref commits);
            }
        })).ToList();
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var r = inst.BeginRead();
                var first = r.Scan(a, "acct").Select(kv => Balance(kv.Value)).ToList();
                Assert.Equal(Accounts, first.Count);
                Assert.Equal(Accounts * 1000L, first.Sum());
                Thread.Sleep(1);
                // Still the same snapshot: the same balances, whatever committed meanwhile.
                var second = r.Scan(a, "acct").Select(kv => Balance(kv.Value)).ToList();
                Assert.Equal(first, second);
                Interlocked.Increment(ref checks);
            }
        })).ToList();
        await Task.WhenAll(writers.Concat(readers));
        Assert.True(commits > 10 && checks > 10, $"commits {commits}, checks {checks}");
        using var last = inst.BeginRead();
        Assert.Equal(commits, Balance(last.Get(b, "count", B("n"))));
    }

    [Fact(Timeout = 120_000)]
    public async Task Concurrent_durable_commits_share_log_flushes()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options);
        var db = inst.CreateDatabase("d");
        long flushesBefore = inst.LogFlushes, commitsBefore = inst.Commits;
        await Task.WhenAll(Enumerable.Range(0, 32).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                using var tx = await inst.BeginWriteAsync();
                tx.Put(db, "t", B($"{w}-{i}"), B("v"));
                await tx.CommitAsync();
            }
        })));
        long commits = inst.Commits - commitsBefore, flushes = inst.LogFlushes - flushesBefore;
        Assert.Equal(32 * 50, commits);
        Assert.True(flushes < commits * 3 / 4, $"{commits} commits took {flushes} flushes: commits are not grouped");
    }

    [Fact]
    public void A_second_writer_waits_with_a_bound_and_says_why()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options with { WaitTimeout = TimeSpan.FromMilliseconds(200) });
        using var first = inst.BeginWrite();
        var ex = Assert.Throws<StorageTimeoutException>(() => inst.BeginWrite());
        Assert.Contains("writer", ex.Message, StringComparison.Ordinal);
        first.Rollback();
        using var second = inst.BeginWrite();
    }

    [Fact]
    public void A_cancelled_wait_for_the_writer_returns_at_once()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir.Path, Options);
        using var first = inst.BeginWrite();
        using var cts = new CancellationTokenSource(50);
        Assert.ThrowsAny<OperationCanceledException>(() => inst.BeginWrite(cts.Token));
    }
}
