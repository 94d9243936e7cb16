using System.Diagnostics;
using Blueback.Server.Backups;

namespace Blueback.Server.Tests;

/// <summary>The rule that makes backups yield to the instance's clients: no pacing on an idle server; while data
/// requests run, a rate that follows their latency, measured against probes with the backups held; a wait that a
/// cancel ends at once. Most of these run on a simulated clock: a stream that obeys the waits and requests whose
/// latency grows with the bytes the stream sent in the last 100 ms.</summary>
public class BackupPacingTests
{
    private const long MB = 1_000_000;

    [Fact(Timeout = 30_000)]
    public async Task An_idle_server_never_paces_and_a_wait_ends_at_once_on_cancel()
    {
        var pacing = new BackupPacing(ceilingBytesPerSecond: 1 * MB, floorBytesPerSecond: 1 * MB);
        Assert.False(pacing.Busy); // a fresh server has seen no data request
        for (int i = 0; i < 100; i++)
        {
            Assert.True(pacing.PaceAsync(1 << 20, CancellationToken.None).IsCompleted, "idle: full speed");
        }

        using (pacing.BeginForeground())
        {
            Assert.True(pacing.Busy);
            // The first busy bytes wait for a probe, then 1 MB at 1 MB/s: about 1.3 s; a cancel ends the wait.
            using var cts = new CancellationTokenSource();
            var waiting = pacing.PaceAsync(1_000_000, cts.Token);
            Assert.False(waiting.IsCompleted);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting).WaitAsync(TimeSpan.FromSeconds(5));
        }
        Assert.True(pacing.Busy, "busy a moment after the last data request too");
        while (pacing.Busy)
        {
            await Task.Delay(20);
        }
        Assert.True(pacing.PaceAsync(10_000_000, CancellationToken.None).IsCompleted, "idle again: no debt carried over");

        var unlimited = new BackupPacing(ceilingBytesPerSecond: 0, floorBytesPerSecond: 1 * MB);
        using (unlimited.BeginForeground())
        {
            Assert.True(unlimited.PaceAsync(100 << 20, CancellationToken.None).IsCompleted, "0 lifts the limit");
        }
    }

    [Fact]
    public void The_baseline_is_the_latency_inside_the_probe_not_while_the_backup_drains()
    {
        var sim = new Simulation(effect: 0, ceiling: 100 * MB, floor: 1 * MB);
        sim.Request(TimeSpan.FromMilliseconds(1)); // busy
        var wait = sim.Pacing.Reserve(1 << 20);
        Assert.True(wait >= BackupPacing.ProbeSettle + BackupPacing.ProbeMeasure, $"the first busy bytes wait for a probe ({wait})");
        Assert.Null(sim.Pacing.Baseline);
        sim.RequestsFor(BackupPacing.ProbeSettle, TimeSpan.FromMilliseconds(5)); // the backup's tail still slows them
        sim.RequestsFor(BackupPacing.ProbeMeasure, TimeSpan.FromMilliseconds(2));
        sim.Pacing.Reserve(1 << 20);
        Assert.Equal(2.0, sim.Pacing.Baseline!.Value.TotalMilliseconds, 0.05);
    }

    [Fact]
    public void Requests_that_a_backup_does_not_slow_let_it_reach_the_ceiling()
    {
        var sim = new Simulation(effect: 0, ceiling: 50 * MB, floor: 1 * MB);
        sim.Run(TimeSpan.FromSeconds(20));
        var (rate, _) = sim.Run(TimeSpan.FromSeconds(30));
        // Probes hold the backups 0.4 s in every 3.4 s, and a stream's steps go between the simulation's 2-ms requests.
        Assert.InRange(rate, 0.7 * 50 * MB, 50 * MB * 1.01);
    }

    [Theory]
    [InlineData(1.0)] // at the ceiling, requests take twice as long
    [InlineData(0.3)]
    public void Requests_that_a_backup_slows_hold_it_near_their_tolerance(double effect)
    {
        var sim = new Simulation(effect, ceiling: 100 * MB, floor: MB / 4);
        sim.Run(TimeSpan.FromSeconds(20));
        var (rate, ratio) = sim.Run(TimeSpan.FromSeconds(60));
        // The rate at which requests take 2% longer: 2 MB/s at effect 1, 6.7 MB/s at 0.3 (a controller stuck at the
        // floor would give 0.25); a fixed 100 MB/s would have made them take 100% or 30% longer.
        double tolerated = BackupPacing.Tolerance / effect * 100 * MB;
        Assert.InRange(ratio, 1.0, 1.0 + 1.5 * BackupPacing.Tolerance);
        Assert.InRange(rate, 0.3 * tolerated, 1.5 * tolerated);
    }

    [Fact]
    public void However_slow_the_requests_get_the_backups_keep_the_floor()
    {
        var sim = new Simulation(effect: 0, ceiling: 100 * MB, floor: 2 * MB);
        sim.Run(TimeSpan.FromSeconds(20));
        Assert.Equal(100 * MB, sim.Pacing.BusyBytesPerSecond, 1.0); // up first, while the backup costs nothing
        sim.Effect = 1000;
        sim.Run(TimeSpan.FromSeconds(10));
        var (rate, _) = sim.Run(TimeSpan.FromSeconds(30));
        Assert.InRange(rate, 0.85 * 2 * MB, 1.05 * 2 * MB);
        Assert.Equal(2 * MB, sim.Pacing.BusyBytesPerSecond, 1.0);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // the simulation's streams ignore ProbeHold: shows the test sees the difference
    public void With_several_streams_none_sends_inside_a_probe_so_the_baseline_stays_clean(bool holdForProbes)
    {
        // Four streams; each step a stream sends makes the requests of the next 100 ms slower.
        var sim = new Simulation(effect: 1, ceiling: 100 * MB, floor: MB / 4, streams: 4, holdForProbes: holdForProbes);
        sim.Run(TimeSpan.FromSeconds(30));
        var (rate, _) = sim.Run(TimeSpan.FromSeconds(30));
        if (holdForProbes)
        {
            Assert.InRange(rate, 0.6 * 2 * MB, 1.5 * 2 * MB); // (the rate the requests tolerate: 2 MB/s, as for one stream)
            Assert.Equal(2.0, sim.Pacing.Baseline!.Value.TotalMilliseconds, 0.005);
        }
        else
        {
            Assert.True(sim.Pacing.Baseline!.Value.TotalMilliseconds > 2.005, "without the hold, the streams' bytes inside the probes show");
        }
    }

    [Fact]
    public void After_a_long_quiet_the_rate_starts_again_from_the_floor_with_a_new_probe()
    {
        var sim = new Simulation(effect: 0, ceiling: 100 * MB, floor: 1 * MB);
        sim.Run(TimeSpan.FromSeconds(20));
        Assert.Equal(100 * MB, sim.Pacing.BusyBytesPerSecond, 1.0);
        Assert.NotNull(sim.Pacing.Baseline);
        sim.Quiet(BackupPacing.Forget + TimeSpan.FromSeconds(1)); // the stream runs on, no client asks anything
        sim.Request(TimeSpan.FromMilliseconds(1));
        var wait = sim.Pacing.Reserve(1 << 20);
        Assert.Equal(1 * MB, sim.Pacing.BusyBytesPerSecond, 1.0);
        Assert.Null(sim.Pacing.Baseline);
        Assert.True(wait >= BackupPacing.ProbeSettle + BackupPacing.ProbeMeasure, $"a probe first ({wait})");
    }

    [Fact]
    public void A_lightly_loaded_server_that_a_backup_does_not_slow_lets_it_reach_the_ceiling()
    {
        // One request every 40 ms: busy (within 200 ms of a request), but fewer than MinSamples in a short window.
        var sim = new Simulation(effect: 0, ceiling: 100 * MB, floor: 1 * MB, gap: TimeSpan.FromMilliseconds(40));
        sim.Run(TimeSpan.FromSeconds(20));
        Assert.Equal(100 * MB, sim.Pacing.BusyBytesPerSecond, 1.0);
    }

    [Fact]
    public void Noise_in_the_requests_times_alone_does_not_hold_a_backup_back()
    {
        // Each request takes 1 to 3 ms at random, whatever the backup does.
        var sim = new Simulation(effect: 0, ceiling: 50 * MB, floor: 1 * MB, noise: 0.5);
        sim.Run(TimeSpan.FromSeconds(20));
        var (rate, _) = sim.Run(TimeSpan.FromSeconds(30));
        Assert.InRange(rate, 0.6 * 50 * MB, 50 * MB * 1.01);
    }

    [Fact]
    public void A_window_is_slower_for_longer_requests_for_fewer_of_them_or_for_none_while_requests_wait()
    {
        // The probe: 600 requests of 2 ms ± 1 ms in 0.3 s (2,000 a second).
        var baseline = new BackupPacing.ProbeResult(Summary(600, 2.0, 1.0), 600, 0.3);
        Assert.True(BackupPacing.Slower(default, 0.25, baseline, requestsRunning: true));
        Assert.False(BackupPacing.Slower(default, 0.25, baseline, requestsRunning: false));
        Assert.False(BackupPacing.Slower(Summary(500, 2.0, 1.0), 0.25, baseline, false)); // as many, as fast
        Assert.False(BackupPacing.Slower(Summary(500, 2.03, 1.0), 0.25, baseline, false)); // within the tolerance
        Assert.True(BackupPacing.Slower(Summary(500, 2.3, 1.0), 0.25, baseline, false)); // 15% longer
        Assert.True(BackupPacing.Slower(Summary(400, 2.0, 1.0), 0.25, baseline, false)); // 20% fewer: closed-loop clients waiting for a core
        Assert.False(BackupPacing.Slower(Summary(5, 2.5, 1.0), 0.25, new BackupPacing.ProbeResult(Summary(6, 2.0, 1.0), 6, 0.3), false)); // a light load: noise
        Assert.Null(BackupPacing.Slower(Summary(50, 2.0, 1.0), 0.25, null, false)); // a probe is due
        Assert.False(BackupPacing.Slower(Summary(1, 2.0, 0), 0.25, null, false)); // a light load without a baseline
    }

    /// <summary>n request times with this mean and standard deviation.</summary>
    private static LatencySummary Summary(long n, double mean, double deviation) =>
        new(n, n * mean, (n - 1) * deviation * deviation + n * mean * mean);

    /// <summary>Backup streams of 256 KiB steps that obey the pacing's waits, and sequential requests (each
    /// followed by <c>gap</c>) whose latency is 2 ms × (1 + effect × the stream's rate over the last 100 ms / the
    /// ceiling), times 1 ± up to <c>noise</c> at random (a fixed seed).</summary>
    private sealed class Simulation
    {
        private const int Step = 256 << 10; // (the server's reads are up to 1 MiB)
        private static readonly double Base = 0.002 * Stopwatch.Frequency;

        private readonly long _ceiling;
        private readonly long _gap;
        private readonly double _noise;
        private readonly bool _holdForProbes;
        private readonly Random _random = new(2026);
        private readonly Queue<long> _recent = new(); // when each of the last 100 ms's steps went
        private long _now = Stopwatch.Frequency * 1000;
        private readonly long[] _resumeAt;

        public Simulation(double effect, long ceiling, long floor, TimeSpan gap = default, double noise = 0, int streams = 1, bool holdForProbes = true)
        {
            _holdForProbes = holdForProbes;
            _noise = noise;
            _resumeAt = new long[streams];
            Effect = effect;
            _ceiling = ceiling;
            _gap = (long)(gap.TotalSeconds * Stopwatch.Frequency);
            Pacing = new BackupPacing(ceiling, floor, () => _now);
        }

        public BackupPacing Pacing { get; }

        public double Effect { get; set; }

        /// <summary>No requests for <paramref name="span"/>; the streams go on (unpaced: the server is idle).</summary>
        public void Quiet(TimeSpan span)
        {
            long end = _now + (long)(span.TotalSeconds * Stopwatch.Frequency);
            while (_now < end)
            {
                StepStreams();
                _now += Stopwatch.Frequency / 100;
            }
        }

        private long StepStreams()
        {
            long bytes = 0;
            for (int i = 0; i < _resumeAt.Length; i++)
            {
                if (_now >= _resumeAt[i])
                {
                    if (_holdForProbes && Pacing.ProbeHold() is { Ticks: > 0 } hold)
                    {
                        _resumeAt[i] = _now + (long)(hold.TotalSeconds * Stopwatch.Frequency); // as PaceAsync does
                        continue;
                    }
                    var wait = Pacing.Reserve(Step);
                    bytes += Step;
                    _recent.Enqueue(_now);
                    _resumeAt[i] = _now + (long)(wait.TotalSeconds * Stopwatch.Frequency);
                }
            }
            return bytes;
        }

        public void Request(TimeSpan latency)
        {
            using (Pacing.BeginForeground())
            {
                _now += (long)(latency.TotalSeconds * Stopwatch.Frequency);
            }
        }

        public void RequestsFor(TimeSpan span, TimeSpan latency)
        {
            long end = _now + (long)(span.TotalSeconds * Stopwatch.Frequency);
            while (_now < end)
            {
                Request(latency);
            }
        }

        /// <summary>The stream's rate (bytes per second) and the requests' mean latency over the base.</summary>
        public (double Rate, double LatencyRatio) Run(TimeSpan span)
        {
            long start = _now, end = _now + (long)(span.TotalSeconds * Stopwatch.Frequency);
            long bytes = 0, requests = 0;
            double latencies = 0;
            while (_now < end)
            {
                bytes += StepStreams();
                while (_recent.Count > 0 && _recent.Peek() < _now - Stopwatch.Frequency / 10)
                {
                    _recent.Dequeue();
                }
                double recentRate = _recent.Count * (double)Step * 10;
                long latency = (long)(Base * (1 + Effect * recentRate / _ceiling) * (1 + _noise * (2 * _random.NextDouble() - 1)));
                using (Pacing.BeginForeground())
                {
                    _now += latency;
                }
                latencies += latency;
                requests++;
                _now += _gap;
            }
            return (bytes / ((double)(_now - start) / Stopwatch.Frequency), latencies / requests / Base);
        }
    }
}
