namespace Blueback.Server.Hosting;

/// <summary>Runs a kind of session's lease check every 250 ms until disposed; disposing waits for it at most 2 s.</summary>
internal sealed class LeaseReaper : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public LeaseReaper(Action reap)
    {
        _loop = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
            try
            {
                while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                {
                    reap();
                }
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        });
    }

    public void Dispose()
    {
        _stop.Cancel();
        Task.WaitAny([_loop], TimeSpan.FromSeconds(2));
        _stop.Dispose();
    }
}
