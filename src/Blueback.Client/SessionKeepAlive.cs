namespace Blueback.Client;

/// <summary>Renews a session's lease on the server while the program works on its side between calls (writing and
/// syncing a set to a slow repository, or starved of CPU at a high nice value on a busy machine): a GET of the session
/// every third of the lease. A session whose program died still ends with its lease, as the lease is meant to do.
/// Best effort and bounded: a renewal that fails is left to the next one, and stopping never waits for one.</summary>
internal sealed class SessionKeepAlive : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private int _stopped;

    private SessionKeepAlive(BluebackClient client, string route, TimeSpan every)
    {
        _ = RunAsync(client, route, every, _stop.Token);
    }

    /// <summary>Starts renewing a lease of <paramref name="leaseSeconds"/> (none when it is not positive).</summary>
    public static SessionKeepAlive? Start(BluebackClient client, string route, double leaseSeconds) =>
        leaseSeconds > 0 ? new SessionKeepAlive(client, route, TimeSpan.FromSeconds(Math.Clamp(leaseSeconds / 3, 0.2, 20))) : null;

    private static async Task RunAsync(BluebackClient client, string route, TimeSpan every, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(every, stop).ConfigureAwait(false);
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
                bound.CancelAfter(every);
                try
                {
                    using var response = await client.Http.GetAsync(route, bound.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
                {
                    // The server is slow or gone: the next renewal tries again, and the lease decides.
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    /// <summary>Stops renewing; never waits for a renewal in flight.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        _stop.Dispose();
    }
}
