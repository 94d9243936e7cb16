using System.Net.Mail;
using System.Text.Json.Serialization;

namespace Blueback.Server;

/// <summary>Where the server sends its alerts' changes (raised, acknowledged, cleared): docs/console.md.</summary>
public sealed class NotificationsConfig
{
    [JsonPropertyName("webhook")]
    public WebhookConfig? Webhook { get; set; }

    [JsonPropertyName("mail")]
    public MailConfig? Mail { get; set; }

    internal void Validate(string where)
    {
        if (Webhook is { } w)
        {
            if (!Uri.TryCreate(w.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new ServerConfigException($"{where}: \"notifications.webhook.url\" is '{w.Url}'; give an absolute http:// or https:// address that takes a JSON POST.") { Key = "notifications.webhook.url" };
            }
            w.Validate(where, "notifications.webhook");
        }
        if (Mail is { } m)
        {
            if (string.IsNullOrWhiteSpace(m.Host))
            {
                throw new ServerConfigException($"{where}: \"notifications.mail.host\" is missing; give the SMTP relay's host name.") { Key = "notifications.mail" };
            }
            if (m.Port is < 1 or > 65535)
            {
                throw new ServerConfigException($"{where}: \"notifications.mail.port\" is {m.Port}; give 1 to 65535 (25 for a local relay).") { Key = "notifications.mail.port" };
            }
            foreach (var (address, key) in m.To.Select(t => (t, "to")).Prepend((m.From, "from")))
            {
                if (!MailAddress.TryCreate(address, out _))
                {
                    throw new ServerConfigException($"{where}: \"notifications.mail.{key}\" holds '{address}', which is not a mail address.") { Key = $"notifications.mail.{key}" };
                }
            }
            if (m.To.Count == 0)
            {
                throw new ServerConfigException($"{where}: \"notifications.mail.to\" is empty; give at least one address.") { Key = "notifications.mail.to" };
            }
            m.Validate(where, "notifications.mail");
        }
    }
}

/// <summary>What every destination has: how often and how long to try.</summary>
public abstract class NotifierConfig
{
    /// <summary>Tries after the first that failed (no answer, or an error that may pass).</summary>
    [JsonPropertyName("retries")]
    public int Retries { get; set; } = 5;

    /// <summary>The pause before the first retry; it doubles with each, to a minute at most.</summary>
    [JsonPropertyName("firstRetrySeconds")]
    public double FirstRetrySeconds { get; set; } = 2;

    /// <summary>How long one try may take.</summary>
    [JsonPropertyName("timeoutSeconds")]
    public double TimeoutSeconds { get; set; } = 10;

    internal void Validate(string where, string key)
    {
        if (Retries is < 0 or > 20)
        {
            throw new ServerConfigException($"{where}: \"{key}.retries\" is {Retries}; give 0 to 20.") { Key = $"{key}.retries" };
        }
        if (FirstRetrySeconds is < 0.1 or > 3600)
        {
            throw new ServerConfigException($"{where}: \"{key}.firstRetrySeconds\" is {FirstRetrySeconds}; give 0.1 to 3600 (it doubles with each retry, to a minute at most).") { Key = $"{key}.firstRetrySeconds" };
        }
        if (TimeoutSeconds is < 1 or > 300)
        {
            throw new ServerConfigException($"{where}: \"{key}.timeoutSeconds\" is {TimeoutSeconds}; give 1 to 300.") { Key = $"{key}.timeoutSeconds" };
        }
    }
}

/// <summary>A JSON POST of each alert change to <see cref="Url"/>.</summary>
public sealed class WebhookConfig : NotifierConfig
{
    [JsonPropertyName("url")]
    public string Url { get; set; } = "";
}

/// <summary>A plain-text mail of each alert change, through an SMTP relay (no authentication, no TLS: a local relay,
/// which forwards it).</summary>
public sealed class MailConfig : NotifierConfig
{
    [JsonPropertyName("host")]
    public string Host { get; set; } = "";

    [JsonPropertyName("port")]
    public int Port { get; set; } = 25;

    [JsonPropertyName("from")]
    public string From { get; set; } = "";

    [JsonPropertyName("to")]
    public List<string> To { get; set; } = [];
}
