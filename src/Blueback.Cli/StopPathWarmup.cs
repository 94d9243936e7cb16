namespace Blueback.Cli;

/// <summary>Pays once, in the background while a command starts, what its first Ctrl+C would otherwise pay cold on a
/// busy machine: the runtime's first exception (its message loaded from resources, the async rethrow) and the console's
/// error writer. On two busy cores a token's stop took a .NET program p50 71 ms cold and 40 ms warmed
/// (<c>bench/Blueback.Soak -- --stop-floor</c>).</summary>
internal static class StopPathWarmup
{
    public static void Start() => _ = Task.Run(WarmAsync);

    private static async Task WarmAsync()
    {
        try
        {
            await ThrowCancelledAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException ex)
        {
            _ = ex.Message;
        }
        await Console.Error.FlushAsync().ConfigureAwait(false);
    }

    private static async Task ThrowCancelledAsync()
    {
        await Task.Yield();
        throw new OperationCanceledException(new CancellationToken(canceled: true));
    }
}
