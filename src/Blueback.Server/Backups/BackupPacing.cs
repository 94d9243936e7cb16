using System.Diagnostics;

namespace Blueback.Server.Backups;

/// <summary>Backups yield to the instance's clients. On an idle server they run at full speed. While data requests
/// run (or ran in the last <see cref="Quiet"/>), all backup streams together are held to a rate that follows the
/// clients themselves: it falls as soon as their requests take longer, or fewer of them end per second, than with
/// the backups held, by more than <see cref="Tolerance"/> and the noise, and grows otherwise, between
/// <see cref="FloorBytesPerSecond"/> and <see cref="CeilingBytesPerSecond"/>. What the clients do without backups is
/// measured by holding the backups for a moment (a probe) every few seconds of busy streaming.
/// <para>Why the clients' measure and not a fixed rate: durable writers wait for their commits, and a backup costs
/// them far more than its share of the CPU (16 writers on 2 cores lost 11-16% to a backup held at 20 MB/s and
/// 38-64% at 200 MB/s), by an amount that depends on the machine, the load and the data. A lower CPU priority
/// alone is not enough on a small machine either: the bytes still cross a socket at normal priority on both ends
/// (docs/benchmarks.md, "Writers during full backups").</para></summary>
internal sealed class BackupPacing
{
    /// <summary>How long after the last data request the server still counts as busy.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    /// <summary>The shortest span over which the clients' latency is averaged before the rate moves.</summary>
    internal static readonly TimeSpan Window = TimeSpan.FromMilliseconds(250);

    /// <summary>Busy streaming between two probes of the latency without backups.</summary>
    internal static readonly TimeSpan ProbeEvery = TimeSpan.FromSeconds(3);

    /// <summary>A probe holds the backups this long before it measures (the bytes already sent are still being
    /// handled, on both ends), then measures for <see cref="ProbeMeasure"/>.</summary>
    internal static readonly TimeSpan ProbeSettle = TimeSpan.FromMilliseconds(100);

    internal static readonly TimeSpan ProbeMeasure = TimeSpan.FromMilliseconds(300);

    /// <summary>How much longer the clients' requests may take on average while backups stream, or how many fewer
    /// may end per second, than without backups, beyond what noise explains.</summary>
    internal const double Tolerance = 0.02;

    /// <summary>A window ends after <see cref="Window"/> once this many requests ended in it, else after
    /// <see cref="LongestWindow"/>.</summary>
    internal const int MinSamples = 8;

    internal static readonly TimeSpan LongestWindow = TimeSpan.FromSeconds(1);

    /// <summary>A stream that comes back this long after its allowance was not streaming (it waited on its client, or
    /// a new one began): what ended meanwhile says nothing of the rate.</summary>
    private static readonly TimeSpan Away = TimeSpan.FromSeconds(2);

    /// <summary>After this long without busy streaming, the rate starts again from the floor with a new probe.</summary>
    internal static readonly TimeSpan Forget = TimeSpan.FromSeconds(10);

    /// <summary>Standard errors of the difference (window against baseline) that a slowdown must clear.</summary>
    private const double Sigmas = 1.0;

    private const double Decrease = 0.7, Increase = 1.15;

    /// <summary>A sample is counted at most this long (one slow scan does not stand for every client).</summary>
    private const double MaxSampleMilliseconds = 1000;

    private readonly Func<long> _clock;
    private readonly Lock _lock = new();
    private long _inFlight;
    private long _lastForeground;
    private long _allowedAt; // ticks before which the next backup bytes may not go while busy
    private double _rate; // bytes per second while busy, between the floor and the ceiling

    // Requests that ended while backups streamed (since the window began), and those that ran wholly inside the
    // current probe's measuring span.
    private readonly RequestLatencies _window = new(), _probe = new();
    private long _probeEnded; // requests that ended inside the measuring span (their rate: the clients' throughput)
    private long _windowStart;
    private long _measureFrom = long.MaxValue, _measureTo = long.MaxValue; // the probe's measuring span, if one runs
    private long _nextProbeAt = long.MinValue;
    private long _lastBusyStreaming = long.MinValue / 2; // when the last bytes counted while busy may go (far past: none yet)
    private ProbeResult? _baseline; // the requests with backups held, at the last probes that saw two or more
    private readonly Queue<(LatencySummary Latency, long Ended)> _probes = new();
    private const int PooledProbes = 3;

    /// <param name="ceilingBytesPerSecond">The most backups send together while the server is busy; 0: no limit, no
    /// pacing at all.</param>
    /// <param name="floorBytesPerSecond">The least they send however the clients' latency moves, so a backup under
    /// constant load still ends.</param>
    /// <param name="clock">Stopwatch ticks (tests give their own).</param>
    public BackupPacing(long ceilingBytesPerSecond, long floorBytesPerSecond, Func<long>? clock = null)
    {
        CeilingBytesPerSecond = ceilingBytesPerSecond;
        FloorBytesPerSecond = Math.Clamp(floorBytesPerSecond, 1, Math.Max(1, ceilingBytesPerSecond));
        _clock = clock ?? Stopwatch.GetTimestamp;
        _rate = FloorBytesPerSecond; // a first busy spell starts slow and grows while the latency allows
        // As if the last data request ended long ago (a start value near long.MinValue would overflow the elapsed time).
        _lastForeground = _clock() - 10 * Stopwatch.Frequency;
        _windowStart = _clock();
    }

    /// <summary>0: no limit.</summary>
    public long CeilingBytesPerSecond { get; }

    public long FloorBytesPerSecond { get; }

    /// <summary>What backups may send together now while the server is busy (bytes per second).</summary>
    public double BusyBytesPerSecond
    {
        get
        {
            lock (_lock)
            {
                return CeilingBytesPerSecond <= 0 ? 0 : _rate;
            }
        }
    }

    /// <summary>The clients' mean request time with backups held, over the last probes (null before one saw requests).</summary>
    public TimeSpan? Baseline
    {
        get
        {
            lock (_lock)
            {
                return _baseline is { } b ? TimeSpan.FromMilliseconds(b.Latency.Mean) : null;
            }
        }
    }

    public bool Busy => Interlocked.Read(ref _inFlight) > 0
        || _clock() - Interlocked.Read(ref _lastForeground) < Quiet.TotalSeconds * Stopwatch.Frequency;

    /// <summary>A data request started; dispose the result when it ends.</summary>
    public Foreground BeginForeground()
    {
        Interlocked.Increment(ref _inFlight);
        return new Foreground(this, _clock());
    }

    /// <summary>Waits, while the server is busy, until <paramref name="bytes"/> more backup bytes fit the rate.</summary>
    public Task PaceAsync(int bytes, CancellationToken cancellationToken)
    {
        var wait = Reserve(bytes);
        return wait <= TimeSpan.Zero ? Task.CompletedTask : WaitAsync(wait, cancellationToken);
    }

    private async Task WaitAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
        // With several streams, one may have been told to go on at a moment that a probe begun since then covers.
        var hold = ProbeHold();
        if (hold > TimeSpan.Zero)
        {
            await Task.Delay(hold, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>How long a stream that wakes now must still wait for the probe under way to end (zero: none).</summary>
    internal TimeSpan ProbeHold()
    {
        long now = _clock();
        lock (_lock)
        {
            return _measureTo != long.MaxValue && now < _measureTo ? TimeSpan.FromSeconds((double)(_measureTo - now) / Stopwatch.Frequency) : TimeSpan.Zero;
        }
    }

    /// <summary>Counts <paramref name="bytes"/> of backup stream against the rate and says how long the stream must
    /// wait before it goes on.</summary>
    internal TimeSpan Reserve(int bytes)
    {
        if (CeilingBytesPerSecond <= 0)
        {
            return TimeSpan.Zero;
        }
        long now = _clock();
        long wait;
        lock (_lock)
        {
            if (now - _lastBusyStreaming > Ticks(Forget))
            {
                // A new backup, or a busy spell after a long quiet: what was learnt may not hold for this load.
                _rate = FloorBytesPerSecond;
                _probes.Clear();
                _baseline = null;
                _measureFrom = _measureTo = long.MaxValue;
                _nextProbeAt = long.MinValue;
            }
            FinishProbe(now);
            bool busy = Busy;
            if (!busy || now - _allowedAt > Ticks(Away))
            {
                // Idle: no debt carried into the next busy spell. Back from away: a fresh window.
                _allowedAt = now;
                _window.Take();
                _windowStart = now;
                if (!busy)
                {
                    return TimeSpan.Zero;
                }
            }
            long age = now - _windowStart;
            bool probing = _measureTo != long.MaxValue; // (another stream's bytes during a probe: the rate stays)
            if (!probing && age >= Ticks(Window) && (_window.Count >= MinSamples || age >= Ticks(LongestWindow)))
            {
                Adjust(_window.Take(), (double)age / Stopwatch.Frequency);
                _windowStart = now;
            }
            if (!probing && now >= _nextProbeAt)
            {
                // Hold the backups, let what was sent be handled, then see how long the requests take without them
                // (streams told earlier to go on inside the span are held at their wake-up: ProbeHold).
                _measureFrom = now + Ticks(ProbeSettle);
                _measureTo = _measureFrom + Ticks(ProbeMeasure);
                _probe.Take();
                Interlocked.Exchange(ref _probeEnded, 0);
                _allowedAt = Math.Max(_allowedAt, _measureTo);
            }
            _allowedAt = Math.Max(_allowedAt, now) + (long)(bytes * Stopwatch.Frequency / _rate);
            _lastBusyStreaming = _allowedAt; // (a stream waiting on the rate is still streaming)
            wait = _allowedAt - now;
        }
        return TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency);
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    /// <summary>A probe whose measuring span is over sets the baseline (if two or more requests ended in it) and the
    /// next probe's time; the window restarts, since what ended during the probe says nothing of the rate.</summary>
    private void FinishProbe(long now)
    {
        if (_measureTo == long.MaxValue || now < _measureTo)
        {
            return;
        }
        var probe = _probe.Take();
        if (probe.Count >= 2)
        {
            // The last few probes pooled: one probe's 0.3 s is too short to stand alone (the clients' own rate
            // swings by half from one to the next on a small machine), and a few still follow a change of load.
            _probes.Enqueue((probe, Interlocked.Read(ref _probeEnded)));
            while (_probes.Count > PooledProbes)
            {
                _probes.Dequeue();
            }
            var pooled = _probes.Aggregate(default(LatencySummary), (a, p) => new(a.Count + p.Latency.Count, a.Sum + p.Latency.Sum, a.SumOfSquares + p.Latency.SumOfSquares));
            _baseline = new ProbeResult(pooled, _probes.Sum(p => p.Ended), _probes.Count * ProbeMeasure.TotalSeconds);
        }
        _measureFrom = _measureTo = long.MaxValue;
        _nextProbeAt = now + Ticks(ProbeEvery);
        _window.Take();
        _windowStart = now;
    }

    /// <summary>The rate falls if the requests in the window took longer, or fewer of them ended per second, than the
    /// baseline allows by more than noise explains, and grows otherwise.</summary>
    private void Adjust(LatencySummary window, double seconds)
    {
        bool? slower = Slower(window, seconds, _baseline, Interlocked.Read(ref _inFlight) > 0);
        if (slower is { } s)
        {
            _rate = s ? Math.Max(FloorBytesPerSecond, _rate * Decrease) : Math.Min(CeilingBytesPerSecond, _rate * Increase);
        }
    }

    /// <summary>Whether the clients did worse in a window of <paramref name="seconds"/> than at the baseline: their
    /// requests took longer on average (what an open-loop client feels), or fewer ended per second (what clients
    /// that wait for each answer before the next request feel, and a server can only see this way: their time
    /// lost waiting for a core, before a request reaches the server or after its answer leaves, is in no request's
    /// time). Null: nothing to judge by (a busy server without a baseline yet waits for its probe).</summary>
    internal static bool? Slower(LatencySummary window, double seconds, ProbeResult? baseline, bool requestsRunning)
    {
        if (window.Count == 0)
        {
            // A whole window without an answer: slower if requests are waiting (a commit held up by a backup's
            // I/O), else only the quiet after the last request.
            return requestsRunning;
        }
        if (baseline is not { } b)
        {
            return window.Count >= MinSamples ? null : false; // few requests and no probe has seen two: a light load
        }
        // The noise is judged by the baseline's spread: a backup's cost often comes as rare long stalls, which
        // would widen the window's own spread and hide themselves.
        double spread = b.Latency.Deviation;
        double windowError = spread / Math.Sqrt(window.Count);
        double baselineError = spread / Math.Sqrt(b.Latency.Count);
        bool longer = window.Mean > b.Latency.Mean * (1 + Tolerance) + Sigmas * Math.Sqrt(windowError * windowError + baselineError * baselineError);
        // Counts of requests: as noisy as a Poisson count (relative error 1/sqrt(n)) at least.
        bool fewer = b.Ended > 0 && window.Count / seconds < b.PerSecond * (1 - Tolerance - Sigmas * Math.Sqrt(1.0 / window.Count + 1.0 / b.Ended));
        return longer || fewer;
    }

    /// <summary>What the last probes saw: the requests that ran wholly inside their measuring spans, how many ended
    /// in them, and the spans' total length.</summary>
    internal readonly record struct ProbeResult(LatencySummary Latency, long Ended, double Seconds)
    {
        public double PerSecond => Ended / Seconds;
    }

    private void Ended(long started)
    {
        long now = _clock();
        double ms = Math.Min((double)(now - started) * 1000 / Stopwatch.Frequency, MaxSampleMilliseconds);
        long from = Volatile.Read(ref _measureFrom);
        if (now >= from && now < Volatile.Read(ref _measureTo))
        {
            Interlocked.Increment(ref _probeEnded);
        }
        if (started >= from && now < Volatile.Read(ref _measureTo))
        {
            // (Only requests that began after the settling: one that began while the backups streamed would carry
            // their cost into the baseline.)
            _probe.Add(ms);
        }
        else
        {
            _window.Add(ms);
        }
        Interlocked.Exchange(ref _lastForeground, now);
        Interlocked.Decrement(ref _inFlight);
    }

    internal readonly struct Foreground(BackupPacing pacing, long started) : IDisposable
    {
        public void Dispose() => pacing.Ended(started);
    }
}
