using System.Net.Mail;
using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Observability;

/// <summary>Each alert's change as a plain-text mail through an SMTP relay (<see cref="MailConfig"/>): a transient SMTP
/// error (4xx) or no answer is retried, a permanent one (5xx: a recipient refused) is not
/// (<see cref="AlertNotifier"/>).</summary>
internal sealed class AlertMail(MailConfig config, ILogger logger) : AlertNotifier(config, logger)
{
    protected override string Target => $"Mail to {string.Join(", ", config.To)} via {config.Host}:{config.Port}";

    protected override string Remedy => "check that the SMTP relay runs and takes mail from this host (notifications.mail in the config).";

    protected override async Task<Attempt> SendOnceAsync(AlertEvent e, CancellationToken ct)
    {
        using var message = new MailMessage { From = new MailAddress(config.From), Subject = SubjectOf(e), Body = BodyOf(e) };
        foreach (var to in config.To)
        {
            message.To.Add(to);
        }
        using var smtp = new SmtpClient(config.Host, config.Port) { Timeout = (int)(config.TimeoutSeconds * 1000), DeliveryMethod = SmtpDeliveryMethod.Network };
        try
        {
            await smtp.SendMailAsync(message, ct).ConfigureAwait(false);
            return new Attempt(true, false, "");
        }
        catch (SmtpException ex) when (!ct.IsCancellationRequested)
        {
            // 5xx: the relay refused the message for good; 4xx and a connection that failed may pass.
            return new Attempt(false, (int)ex.StatusCode is < 500 or >= 600 || ex.StatusCode == SmtpStatusCode.ServiceNotAvailable, ex.Message);
        }
    }

    private static string SubjectOf(AlertEvent e) => $"[blueback {e.Alert.Severity}] {e.Alert.Subject}: {e.Event}";

    private static string BodyOf(AlertEvent e) =>
        $"{e.Alert.Subject} ({e.Alert.Severity}) was {e.Event} at {e.Time:yyyy-MM-dd HH:mm:ss} UTC on {e.Server}.\n\n{e.Alert.Message}\n"
        + (e.Alert.AcknowledgedBy is { } who ? $"\nAcknowledged by {who} at {e.Alert.AcknowledgedAt:yyyy-MM-dd HH:mm:ss} UTC.\n" : "")
        + $"\nThe console's Alerts page shows it and its history (alert id {e.Alert.Id}).\n";
}
