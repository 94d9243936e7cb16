using System.Text;
using Blueback.Client;

namespace Blueback.Soak;

/// <summary>Writers that run throughout: writer W puts keys wW-00000000, wW-00000001, … in order, each only after the
/// one before was acknowledged, so what any committed moment holds of a writer is a prefix of its keys. The record is
/// the count each writer had acknowledged; a put that fails (the server is being killed) is tried again with the same
/// key and value, so a commit whose answer was lost is simply confirmed.</summary>
internal sealed class Writers(string url, int count, double ratePerWriter = 0)
{
    private readonly long[] _acked = new long[count];
    private readonly CancellationTokenSource _stop = new();
    private Task[] _tasks = [];

    public int Count => count;

    public long Acknowledged(int writer) => Interlocked.Read(ref _acked[writer]);

    /// <summary>Every writer's acknowledged count, read now.</summary>
    public long[] Snapshot() => Enumerable.Range(0, count).Select(Acknowledged).ToArray();

    public long Total => Snapshot().Sum();

    public static string Key(int writer, long n) => $"w{writer}-{n:D8}";

    public static byte[] Value(int writer, long n) => Encoding.UTF8.GetBytes($"soak {writer} {n} {new string((char)('a' + (n % 26)), (int)(n % 200))}");

    public void Start() => _tasks = Enumerable.Range(0, count).Select(w => Task.Run(() => RunAsync(w))).ToArray();

    private async Task RunAsync(int writer)
    {
        using var c = new BluebackClient(url, timeout: TimeSpan.FromSeconds(10));
        var pace = System.Diagnostics.Stopwatch.StartNew();
        while (!_stop.IsCancellationRequested)
        {
            long n = Acknowledged(writer);
            try
            {
                if (ratePerWriter > 0 && TimeSpan.FromSeconds(n / ratePerWriter) - pace.Elapsed is { Ticks: > 0 } ahead)
                {
                    await Task.Delay(ahead, _stop.Token).ConfigureAwait(false); // ahead of its rate: wait for it
                }
                await c.PutAsync("store", "mailbox", "soak", Encoding.UTF8.GetBytes(Key(writer, n)), Value(writer, n), _stop.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _acked[writer]);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or BluebackApiException or IOException or TaskCanceledException)
            {
                // The server is down or busy: the same key again in a moment.
                try
                {
                    await Task.Delay(50, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
    }

    /// <summary>What is wrong with a state of the writers' keys (writer to keys present): each writer's keys must be a
    /// prefix (a committed moment) holding at least <paramref name="atLeast"/>; null when right.</summary>
    public static string? Check(IReadOnlyDictionary<int, SortedSet<long>> present, long[] atLeast)
    {
        for (int w = 0; w < atLeast.Length; w++)
        {
            var keys = present.GetValueOrDefault(w) ?? [];
            long n = keys.Count;
            if (n > 0 && keys.Max != n - 1)
            {
                return $"writer {w}: {n} keys but the last is {keys.Max}: a gap (not one committed moment)";
            }
            if (n < atLeast[w])
            {
                return $"writer {w}: {n} keys, {atLeast[w]} were acknowledged before: acknowledged commits lost";
            }
        }
        return null;
    }

    /// <summary>Parses a key this class wrote.</summary>
    public static bool TryParse(string key, out int writer, out long n)
    {
        writer = 0;
        n = 0;
        var dash = key.IndexOf('-', StringComparison.Ordinal);
        return key.StartsWith('w') && dash > 1 && int.TryParse(key.AsSpan(1, dash - 1), out writer) && long.TryParse(key.AsSpan(dash + 1), out n);
    }
}
