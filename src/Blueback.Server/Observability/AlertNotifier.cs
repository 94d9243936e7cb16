using System.Threading.Channels;
using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Observability;

/// <summary>Sends each alert's change to one destination (a webhook, mail), one at a time and in order. A failure that
/// may pass (no answer within the timeout, a server error) is retried after a pause that doubles from
/// firstRetrySeconds up to a minute, at most <c>retries</c> times; a refusal is not retried (sending the same message
/// again changes nothing). At most 1,000 changes wait: beyond that the oldest are dropped and said in the log, so a
/// destination down for days costs bounded memory.</summary>
internal abstract class AlertNotifier : IDisposable
{
    private const int Waiting = 1000;
    private static readonly TimeSpan MaxPause = TimeSpan.FromMinutes(1);
    private readonly NotifierConfig _config;
    private readonly Channel<AlertEvent> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _delivered;
    private long _failed;

    /// <summary>One try's outcome: delivered, or why not and whether another try may help.</summary>
    protected readonly record struct Attempt(bool Ok, bool Retry, string Why);

    protected AlertNotifier(NotifierConfig config, ILogger logger)
    {
        _config = config;
        Logger = logger;
        _queue = Channel.CreateBounded<AlertEvent>(new BoundedChannelOptions(Waiting) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            dropped => Logger.LogWarning("{Target}: more than {Waiting} alert changes waiting; dropped the oldest ({Event} {Subject}).", Target, Waiting, dropped.Event, dropped.Alert.Subject));
        _loop = Task.Run(LoopAsync);
    }

    protected ILogger Logger { get; }

    /// <summary>Where the changes go, for the log ("Webhook URL", "Mail to A via HOST").</summary>
    protected abstract string Target { get; }

    /// <summary>Where to look when a change was not delivered (the config key).</summary>
    protected abstract string Remedy { get; }

    protected abstract Task<Attempt> SendOnceAsync(AlertEvent e, CancellationToken ct);

    /// <summary>Changes delivered, and changes given up on.</summary>
    public (long Delivered, long Failed) Counts => (Interlocked.Read(ref _delivered), Interlocked.Read(ref _failed));

    public void Enqueue(AlertEvent e) => _queue.Writer.TryWrite(e);

    private async Task LoopAsync()
    {
        try
        {
            await foreach (var e in _queue.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                await SendAsync(e, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private async Task SendAsync(AlertEvent e, CancellationToken ct)
    {
        var pause = TimeSpan.FromSeconds(_config.FirstRetrySeconds);
        string last = "";
        for (int attempt = 0; attempt <= _config.Retries; attempt++)
        {
            if (attempt > 0)
            {
                await Task.Delay(pause, ct).ConfigureAwait(false);
                pause = pause * 2 < MaxPause ? pause * 2 : MaxPause;
            }
            var a = await SendOnceAsync(e, ct).ConfigureAwait(false);
            if (a.Ok)
            {
                Interlocked.Increment(ref _delivered);
                return;
            }
            last = a.Why;
            if (!a.Retry)
            {
                break;
            }
        }
        Interlocked.Increment(ref _failed);
        Logger.LogError("{Target}: the alert change '{Event} {Subject}' was not delivered ({Last}); {Remedy}", Target, e.Event, e.Alert.Subject, last, Remedy);
    }

    /// <summary>Stops sending (what still waits is dropped: the history keeps it) and waits for the sender, bounded.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _stop.Cancel();
        _loop.Wait(TimeSpan.FromSeconds(2));
        Dispose(true);
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }
}
