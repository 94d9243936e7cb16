using System.Diagnostics;

namespace Blueback.Server.Backups;

/// <summary>Backups yield to the instance's clients: while data requests are running, or ran in the last
/// <see cref="Quiet"/>, all backup streams together are held to <see cref="BusyBytesPerSecond"/>; on an idle
/// server they run at full speed. Lowering the backup's CPU priority alone is not enough on a small machine: the
/// bytes still cross a socket at normal priority on both ends (docs/benchmarks.md, "writers during backups").</summary>
internal sealed class BackupPacing
{
    /// <summary>How long after the last data request the server still counts as busy.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    private readonly Lock _lock = new();
    private long _inFlight;
    private long _lastForeground;
    private long _allowedAt; // Stopwatch ticks before which the next backup bytes may not go while busy

    public BackupPacing(long busyBytesPerSecond)
    {
        BusyBytesPerSecond = busyBytesPerSecond;
        // As if the last data request ended long ago (a start value near long.MinValue would overflow the elapsed time).
        _lastForeground = Stopwatch.GetTimestamp() - 10 * Stopwatch.Frequency;
    }

    /// <summary>0: no limit.</summary>
    public long BusyBytesPerSecond { get; }

    public bool Busy => Interlocked.Read(ref _inFlight) > 0
        || Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastForeground)) < Quiet;

    /// <summary>A data request started; dispose the result when it ends.</summary>
    public Foreground BeginForeground()
    {
        Interlocked.Increment(ref _inFlight);
        return new Foreground(this);
    }

    /// <summary>Waits, while the server is busy, until <paramref name="bytes"/> more backup bytes fit the rate.</summary>
    public Task PaceAsync(int bytes, CancellationToken cancellationToken)
    {
        if (BusyBytesPerSecond <= 0)
        {
            return Task.CompletedTask;
        }
        long now = Stopwatch.GetTimestamp();
        long wait;
        lock (_lock)
        {
            if (!Busy)
            {
                _allowedAt = now; // idle: no debt carried into the next busy spell
                return Task.CompletedTask;
            }
            _allowedAt = Math.Max(_allowedAt, now) + bytes * Stopwatch.Frequency / BusyBytesPerSecond;
            wait = _allowedAt - now;
        }
        return wait <= 0 ? Task.CompletedTask : Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), cancellationToken);
    }

    internal readonly struct Foreground(BackupPacing pacing) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.Exchange(ref pacing._lastForeground, Stopwatch.GetTimestamp());
            Interlocked.Decrement(ref pacing._inFlight);
        }
    }
}
