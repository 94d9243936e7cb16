using Blueback.Protocol;
using Blueback.Server.Instances;

namespace Blueback.Server.Observability;

/// <summary>The server's rates, sampled every five seconds from the same counters the metrics expose: commits, log
/// bytes, backup bytes, kept over an hour, a day and a week at falling resolution (<see cref="RateRings"/>): what the
/// console plots, without a metrics server of its own.</summary>
internal sealed class RateHistory : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private readonly InstanceHost _host;
    private readonly ServerMetrics _metrics;
    private readonly RateRings _rings = new();
    private readonly Lock _lock = new();
    private readonly Timer _timer;
    private (DateTime Time, long Commits, long LogBytes, long BackupBytes)? _last;

    public RateHistory(InstanceHost host, ServerMetrics metrics)
    {
        _host = host;
        _metrics = metrics;
        _timer = new Timer(_ => Sample(), null, TimeSpan.Zero, Interval);
    }

    private void Sample()
    {
        long commits = 0, log = 0;
        try
        {
            foreach (var i in _host.Instances)
            {
                commits += i.Commits;
                log += i.LogBytesWritten;
            }
        }
        catch (ObjectDisposedException)
        {
            return; // the server is stopping
        }
        var now = (Time: DateTime.UtcNow, Commits: commits, LogBytes: log, BackupBytes: _metrics.BackupBytesTotal);
        lock (_lock)
        {
            if (_last is { } last && now.Time > last.Time)
            {
                double s = (now.Time - last.Time).TotalSeconds;
                _rings.Add(new MetricsSample
                {
                    Time = now.Time,
                    // An instance restored in place or reopened starts its counters again: no negative rates.
                    CommitsPerSecond = Math.Round(Math.Max(0, now.Commits - last.Commits) / s, 1),
                    LogMBps = Math.Round(Math.Max(0, now.LogBytes - last.LogBytes) / 1e6 / s, 2),
                    BackupMBps = Math.Round(Math.Max(0, now.BackupBytes - last.BackupBytes) / 1e6 / s, 2),
                });
            }
            _last = now;
        }
    }

    /// <summary>The samples of <paramref name="range"/> (1h, 24h, 7d); null for another.</summary>
    public MetricsHistory? Snapshot(string range)
    {
        lock (_lock)
        {
            return _rings.Snapshot(range);
        }
    }

    public void Dispose() => _timer.Dispose();
}
