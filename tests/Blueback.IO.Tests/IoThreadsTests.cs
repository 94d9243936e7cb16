using Blueback.IO;

namespace Blueback.IO.Tests;

/// <summary>The dedicated I/O threads: results and failures come back to the caller, no more calls run at once than
/// there are threads, and a call cancelled while it waits never runs.</summary>
public class IoThreadsTests
{
    [Fact(Timeout = 30_000)]
    public async Task Results_and_exceptions_come_back_and_at_most_the_thread_count_run_at_once()
    {
        using var io = new IoThreads(2, "test io");
        int running = 0, most = 0;
        var tasks = Enumerable.Range(0, 20).Select(i => io.RunAsync(() =>
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            Thread.Sleep(5);
            Interlocked.Decrement(ref running);
            return i * 2;
        }, CancellationToken.None)).ToList();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i * 2), await Task.WhenAll(tasks));
        Assert.InRange(most, 1, 2);
        var failed = io.RunAsync<int>(() => throw new IOException("disk gone"), CancellationToken.None);
        Assert.Equal("disk gone", (await Assert.ThrowsAsync<IOException>(() => failed)).Message);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_call_cancelled_while_it_waits_ends_at_once_and_never_runs()
    {
        using var io = new IoThreads(1, "test io");
        using var release = new ManualResetEventSlim();
        var blocker = io.RunAsync(() => release.Wait(TimeSpan.FromSeconds(20)), CancellationToken.None);
        using var cts = new CancellationTokenSource();
        bool ran = false;
        var waiting = io.RunAsync(() => ran = true, cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        release.Set();
        Assert.True(await blocker);
        await io.RunAsync(() => true, CancellationToken.None); // the queue has moved past the cancelled call
        Assert.False(ran);
        Assert.True((await io.RunAsync(() => 1, CancellationToken.None)) == 1);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => io.RunAsync(() => 1, cts.Token)); // already cancelled
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
