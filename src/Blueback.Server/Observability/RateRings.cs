using Blueback.Protocol;

namespace Blueback.Server.Observability;

/// <summary>The rates kept at three resolutions, each a ring of bucket means: the last hour in 10 s buckets (360), the
/// last day in 5 min buckets (288), the last week in 1 h buckets (168). 816 points at most whatever the uptime, and
/// each sample costs three additions: the console's range choice is free to serve.</summary>
internal sealed class RateRings
{
    public static readonly IReadOnlyList<(string Name, TimeSpan Bucket, int Kept)> Ranges =
    [
        ("1h", TimeSpan.FromSeconds(10), 360),
        ("24h", TimeSpan.FromMinutes(5), 288),
        ("7d", TimeSpan.FromHours(1), 168),
    ];

    /// <summary>The most points the rings hold together.</summary>
    public static int MaxPoints => Ranges.Sum(r => r.Kept);

    private readonly Ring[] _rings = Ranges.Select(r => new Ring(r.Bucket, r.Kept)).ToArray();

    public void Add(MetricsSample s)
    {
        foreach (var ring in _rings)
        {
            ring.Add(s);
        }
    }

    /// <summary>The range's buckets, oldest first, the one still filling last; null for a range not kept.</summary>
    public MetricsHistory? Snapshot(string range)
    {
        for (int i = 0; i < Ranges.Count; i++)
        {
            if (Ranges[i].Name == range)
            {
                return new MetricsHistory { Range = range, IntervalSeconds = Ranges[i].Bucket.TotalSeconds, Samples = _rings[i].Points() };
            }
        }
        return null;
    }

    private sealed class Ring(TimeSpan bucket, int kept)
    {
        private readonly Queue<MetricsSample> _done = new();
        private long _current = long.MinValue;
        private double _commits, _log, _backup;
        private int _n;

        public void Add(MetricsSample s)
        {
            long b = s.Time.Ticks / bucket.Ticks;
            if (b != _current && _n > 0)
            {
                _done.Enqueue(Mean());
                while (_done.Count > kept)
                {
                    _done.Dequeue();
                }
                _commits = _log = _backup = 0;
                _n = 0;
            }
            _current = b;
            _commits += s.CommitsPerSecond;
            _log += s.LogMBps;
            _backup += s.BackupMBps;
            _n++;
        }

        public List<MetricsSample> Points()
        {
            var points = new List<MetricsSample>(_done.Count + 1);
            points.AddRange(_done);
            if (_n > 0)
            {
                points.Add(Mean());
            }
            // The bucket filling now stands in for the oldest, so a range never holds more than its kept count.
            return points.Count > kept ? points[^kept..] : points;
        }

        /// <summary>The bucket's mean, stamped with the bucket's end (the time its last sample covers).</summary>
        private MetricsSample Mean() => new()
        {
            Time = new DateTime((_current + 1) * bucket.Ticks, DateTimeKind.Utc),
            CommitsPerSecond = Math.Round(_commits / _n, 1),
            LogMBps = Math.Round(_log / _n, 2),
            BackupMBps = Math.Round(_backup / _n, 2),
        };
    }
}
