using System.Net;
using System.Text.Json;
using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Observability;

/// <summary>Each alert's change as a JSON POST (<see cref="AlertEvent"/>) to the configured URL: a 5xx, 408, 429 or no
/// answer is retried, another 4xx is not (<see cref="AlertNotifier"/>).</summary>
internal sealed class AlertWebhook(WebhookConfig config, ILogger logger) : AlertNotifier(config, logger)
{
    private readonly Uri _url = new(config.Url);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(config.TimeoutSeconds) };

    protected override string Target => $"Webhook {_url}";

    protected override string Remedy => "check that the receiver runs and accepts a JSON POST (notifications.webhook in the config).";

    protected override async Task<Attempt> SendOnceAsync(AlertEvent e, CancellationToken ct)
    {
        try
        {
            // A body of known length (not chunked): the smallest receivers read Content-Length only.
            using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(e, ProtocolJson.Default.AlertEvent));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var answer = await _http.PostAsync(_url, content, ct).ConfigureAwait(false);
            bool refused = (int)answer.StatusCode is >= 400 and < 500 && answer.StatusCode is not HttpStatusCode.RequestTimeout and not HttpStatusCode.TooManyRequests;
            return new Attempt(answer.IsSuccessStatusCode, !refused, $"{(int)answer.StatusCode} {answer.ReasonPhrase}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return new Attempt(false, true, ex is TaskCanceledException ? $"no answer within {config.TimeoutSeconds:0.#} s" : ex.Message);
        }
    }

    protected override void Dispose(bool disposing) => _http.Dispose();
}
