using Blueback.Protocol;
using Blueback.Server.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Observability;

/// <summary>What the console shows beyond status: the alerts (policies failing, proofs failed, instances offline,
/// shipping behind), their acknowledgement and history, and the rates over an hour, a day or a week.</summary>
internal static class ConsoleEndpoints
{
    /// <summary>How long a page repair stays in the alerts: long enough for someone to see it and look at the disk.</summary>
    private static readonly TimeSpan RepairShown = TimeSpan.FromHours(24);

    public static void Map(IEndpointRouteBuilder app, AlertBook alerts, RateHistory rates)
    {
        app.MapGet(Routes.Alerts, () => Results.Json(new AlertList { Alerts = alerts.Current() }, ProtocolJson.Default.AlertList)).WithName("alerts");
        app.MapGet(Routes.AlertHistory, (int? limit) => limit is < 1 or > 1000
            ? Http.Problems.BadRequest($"limit={limit}: give 1 to 1000 changes.")
            : Results.Json(new AlertHistory { Events = alerts.History(limit ?? 100) }, ProtocolJson.Default.AlertHistory)).WithName("alert-history");
        app.MapPost(Routes.Templates.AlertAck, (HttpContext ctx, string id) =>
            alerts.Acknowledge(id, Security.Authentication.Who(ctx)) is { } acked
                ? Results.Json(acked, ProtocolJson.Default.AlertInfo)
                : Http.Problems.NotFound($"There is no active alert '{id}' (it may have cleared: GET {Routes.AlertHistory} says when). GET {Routes.Alerts} lists the active ones with their ids."))
            .WithName("alert-ack");
        app.MapGet(Routes.MetricsHistory, (string? range) => rates.Snapshot(range ?? "1h") is { } history
            ? Results.Json(history, ProtocolJson.Default.MetricsHistory)
            : Http.Problems.BadRequest($"range={range} is not kept; give {string.Join(", ", RateRings.Ranges.Select(r => r.Name))}.")).WithName("metrics-history");
    }

    /// <summary>The alerts now, unsorted and without ids (the <see cref="AlertBook"/> adds them).</summary>
    public static List<AlertInfo> Alerts(InstanceHost host, Policies.PolicyRunner runner, Shipping.ShipperLeases shippers, Repair.PageRepairLog repair)
    {
        var alerts = runner.Alerts();
        // A repaired page is a disk that lost data once: a warning; a page that could not be repaired fails its reads.
        foreach (var r in repair.Recent.Where(r => DateTime.UtcNow - r.At < RepairShown))
        {
            alerts.Add(new AlertInfo
            {
                Severity = r.Repaired ? "warning" : "critical",
                Subject = $"instance {r.Instance}, database {r.Database}, page {r.Page}",
                Message = r.Repaired
                    ? $"failed its checksum and was repaired from {r.Source} ({r.Detail}); check the disk under '{r.File}' (dmesg, SMART)."
                    : $"failed its checksum and could not be repaired from {r.Source}: {r.Detail}. Its reads fail: restore the database from a backup.",
                Since = r.At,
            });
        }
        foreach (var slot in host.Slots)
        {
            if (!slot.TryEnter(out var inst))
            {
                if (slot.State != InstanceState.Restoring)
                {
                    alerts.Add(new AlertInfo { Severity = "critical", Subject = $"instance {slot.Name}", Message = $"offline: {slot.Unavailable}" });
                }
                continue;
            }
            try
            {
                if (inst.IsPoisoned)
                {
                    alerts.Add(new AlertInfo { Severity = "critical", Subject = $"instance {inst.Name}", Message = "stopped after an error: it takes no writes until the server restarts it (see the server's log)." });
                }
                if (StatusEndpoints.ShippingOf(inst, shippers) is { Warning: { } warning })
                {
                    alerts.Add(new AlertInfo { Severity = "warning", Subject = $"instance {inst.Name}, shipping", Message = warning });
                }
            }
            finally
            {
                slot.Leave();
            }
        }
        return alerts.OrderBy(a => a.Severity == "critical" ? 0 : 1).ToList(); // the most severe first: it stands for its subject
    }
}
