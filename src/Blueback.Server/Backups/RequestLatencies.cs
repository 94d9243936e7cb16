namespace Blueback.Server.Backups;

/// <summary>The times of the clients' requests that ended since the last <see cref="Take"/> (milliseconds): enough to
/// tell a slowdown from noise (<see cref="LatencySummary"/>). Added to on every data request, so only a short lock.</summary>
internal sealed class RequestLatencies
{
    private readonly Lock _lock = new();
    private long _count;
    private double _sum, _sumOfSquares;

    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public void Add(double milliseconds)
    {
        lock (_lock)
        {
            _count++;
            _sum += milliseconds;
            _sumOfSquares += milliseconds * milliseconds;
        }
    }

    /// <summary>What was gathered, and a fresh start.</summary>
    public LatencySummary Take()
    {
        lock (_lock)
        {
            var taken = new LatencySummary(_count, _sum, _sumOfSquares);
            _count = 0;
            _sum = _sumOfSquares = 0;
            return taken;
        }
    }
}

/// <summary>Request times in milliseconds: how many, their mean, and how far a single one strays.</summary>
internal readonly record struct LatencySummary(long Count, double Sum, double SumOfSquares)
{
    public double Mean => Count == 0 ? double.NaN : Sum / Count;

    /// <summary>The sample standard deviation (NaN under two requests).</summary>
    public double Deviation => Count < 2 ? double.NaN : Math.Sqrt(Math.Max(0, (SumOfSquares - Sum * Sum / Count) / (Count - 1)));
}
