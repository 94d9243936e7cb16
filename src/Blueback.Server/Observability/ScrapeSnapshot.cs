namespace Blueback.Server.Observability;

/// <summary>One reading shared by the gauges of one scrape: several gauges show parts of the same state, whose
/// reading costs I/O (a log directory listing, statvfs, state files), so it is read once and reused for a moment.</summary>
internal sealed class ScrapeSnapshot<T>(Func<T> read)
{
    private static readonly TimeSpan Fresh = TimeSpan.FromMilliseconds(250);
    private readonly Lock _lock = new();
    private (T Value, DateTime At)? _last;

    public T Value
    {
        get
        {
            lock (_lock)
            {
                var now = DateTime.UtcNow;
                if (_last is not { } l || now - l.At > Fresh)
                {
                    _last = (read(), now);
                }
                return _last.Value.Value;
            }
        }
    }
}
