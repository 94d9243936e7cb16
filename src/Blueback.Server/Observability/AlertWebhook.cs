using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Observability;

/// <summary>Sends each alert's change as a JSON POST (<see cref="AlertEvent"/>) to the configured URL, one at a time
/// in order. A failure (no answer within the timeout, a 5xx, 408 or 429) is retried after a pause that doubles from
/// firstRetrySeconds up to a minute, at most <c>retries</c> times; other 4xx are not retried (the receiver refused the
/// message, sending it again changes nothing). At most 1,000 changes wait: beyond that the oldest are dropped and
/// said in the log, so a receiver down for days costs bounded memory.</summary>
internal sealed class AlertWebhook : IDisposable
{
    private const int Waiting = 1000;
    private static readonly TimeSpan MaxPause = TimeSpan.FromMinutes(1);
    private readonly WebhookConfig _config;
    private readonly Uri _url;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Channel<AlertEvent> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _delivered;
    private long _failed;

    public AlertWebhook(WebhookConfig config, ILogger logger)
    {
        _config = config;
        _url = new Uri(config.Url);
        _logger = logger;
        _http = new HttpClient { Timeout = TimeSpan.FromSeconds(config.TimeoutSeconds) };
        _queue = Channel.CreateBounded<AlertEvent>(new BoundedChannelOptions(Waiting) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            dropped => _logger.LogWarning("Webhook {Url}: more than {Waiting} alert changes waiting; dropped the oldest ({Event} {Subject}).", _url, Waiting, dropped.Event, dropped.Alert.Subject));
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Changes the receiver took (2xx), and changes given up on.</summary>
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
            try
            {
                // A body of known length (not chunked): the smallest receivers read Content-Length only.
                using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(e, ProtocolJson.Default.AlertEvent));
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                using var answer = await _http.PostAsync(_url, content, ct).ConfigureAwait(false);
                if (answer.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _delivered);
                    return;
                }
                last = $"{(int)answer.StatusCode} {answer.ReasonPhrase}";
                if ((int)answer.StatusCode is >= 400 and < 500 && answer.StatusCode is not HttpStatusCode.RequestTimeout and not HttpStatusCode.TooManyRequests)
                {
                    break;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                last = ex is TaskCanceledException ? $"no answer within {_config.TimeoutSeconds:0.#} s" : ex.Message;
            }
        }
        Interlocked.Increment(ref _failed);
        _logger.LogError("Webhook {Url}: the alert change '{Event} {Subject}' was not delivered ({Last}); check that the receiver runs and accepts a JSON POST (notifications.webhook in the config).",
            _url, e.Event, e.Alert.Subject, last);
    }

    /// <summary>Stops sending (what still waits is dropped: the history keeps it) and waits for the sender, bounded.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _stop.Cancel();
        _loop.Wait(TimeSpan.FromSeconds(2));
        _http.Dispose();
        _stop.Dispose();
    }
}
