using Blueback.Server.Backups;

namespace Blueback.Server.Tests;

/// <summary>The rule that makes backups yield to the instance's clients: no pacing on an idle server, the busy rate
/// while data requests run and shortly after, and a wait that a cancel ends at once.</summary>
public class BackupPacingTests
{
    [Fact(Timeout = 30_000)]
    public async Task An_idle_server_never_paces_and_a_busy_one_holds_backups_to_the_rate()
    {
        var pacing = new BackupPacing(busyBytesPerSecond: 1_000_000);
        Assert.False(pacing.Busy); // a fresh server has seen no data request
        for (int i = 0; i < 100; i++)
        {
            Assert.True(pacing.PaceAsync(1 << 20, CancellationToken.None).IsCompleted, "idle: full speed");
        }

        using (pacing.BeginForeground())
        {
            Assert.True(pacing.Busy);
            // 1 MB at 1 MB/s: the next megabyte waits about a second, and a cancel ends the wait.
            var first = pacing.PaceAsync(1_000_000, CancellationToken.None);
            using var cts = new CancellationTokenSource();
            var second = pacing.PaceAsync(1_000_000, cts.Token);
            Assert.False(second.IsCompleted);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second).WaitAsync(TimeSpan.FromSeconds(5));
            await first.WaitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.True(pacing.Busy, "busy a moment after the last data request too");
        while (pacing.Busy)
        {
            await Task.Delay(20);
        }
        Assert.True(pacing.PaceAsync(10_000_000, CancellationToken.None).IsCompleted, "idle again: no debt carried over");

        var unlimited = new BackupPacing(busyBytesPerSecond: 0);
        using (unlimited.BeginForeground())
        {
            Assert.True(unlimited.PaceAsync(100 << 20, CancellationToken.None).IsCompleted, "0 lifts the limit");
        }
    }
}
