using System.Text.Json.Serialization;

namespace Blueback.Server;

/// <summary>Where the server sends its alerts' changes (raised, acknowledged, cleared): docs/console.md.</summary>
public sealed class NotificationsConfig
{
    [JsonPropertyName("webhook")]
    public WebhookConfig? Webhook { get; set; }

    internal void Validate(string where)
    {
        if (Webhook is not { } w)
        {
            return;
        }
        if (!Uri.TryCreate(w.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            throw new ServerConfigException($"{where}: \"notifications.webhook.url\" is '{w.Url}'; give an absolute http:// or https:// address that takes a JSON POST.") { Key = "notifications.webhook.url" };
        }
        if (w.Retries is < 0 or > 20)
        {
            throw new ServerConfigException($"{where}: \"notifications.webhook.retries\" is {w.Retries}; give 0 to 20.") { Key = "notifications.webhook.retries" };
        }
        if (w.FirstRetrySeconds is < 0.1 or > 3600)
        {
            throw new ServerConfigException($"{where}: \"notifications.webhook.firstRetrySeconds\" is {w.FirstRetrySeconds}; give 0.1 to 3600 (it doubles with each retry, to a minute at most).") { Key = "notifications.webhook.firstRetrySeconds" };
        }
        if (w.TimeoutSeconds is < 1 or > 300)
        {
            throw new ServerConfigException($"{where}: \"notifications.webhook.timeoutSeconds\" is {w.TimeoutSeconds}; give 1 to 300.") { Key = "notifications.webhook.timeoutSeconds" };
        }
    }
}

/// <summary>A JSON POST of each alert change to <see cref="Url"/>, retried with a doubling pause.</summary>
public sealed class WebhookConfig
{
    [JsonPropertyName("url")]
    public string Url { get; set; } = "";

    /// <summary>Tries after the first that failed (a 5xx, 408, 429, or no answer).</summary>
    [JsonPropertyName("retries")]
    public int Retries { get; set; } = 5;

    /// <summary>The pause before the first retry; it doubles with each, to a minute at most.</summary>
    [JsonPropertyName("firstRetrySeconds")]
    public double FirstRetrySeconds { get; set; } = 2;

    /// <summary>How long one POST may take.</summary>
    [JsonPropertyName("timeoutSeconds")]
    public double TimeoutSeconds { get; set; } = 10;
}
