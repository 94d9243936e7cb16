using Blueback.Protocol;
using Blueback.Server.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Observability;

/// <summary>What the console shows beyond status: the alerts (policies failing, proofs failed, instances offline,
/// shipping behind) and the rates of the last hour.</summary>
internal static class ConsoleEndpoints
{
    public static void Map(IEndpointRouteBuilder app, InstanceHost host, Policies.PolicyRunner runner, Shipping.ShipperLeases shippers, RateHistory rates)
    {
        app.MapGet(Routes.Alerts, () => Results.Json(new AlertList { Alerts = Alerts(host, runner, shippers) }, ProtocolJson.Default.AlertList)).WithName("alerts");
        app.MapGet(Routes.MetricsHistory, () => Results.Json(rates.Snapshot(), ProtocolJson.Default.MetricsHistory)).WithName("metrics-history");
    }

    private static List<AlertInfo> Alerts(InstanceHost host, Policies.PolicyRunner runner, Shipping.ShipperLeases shippers)
    {
        var alerts = runner.Alerts();
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
        return alerts.OrderBy(a => a.Severity == "critical" ? 0 : 1).ToList();
    }
}
