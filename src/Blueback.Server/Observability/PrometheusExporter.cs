using Blueback.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Blueback.Server.Observability;

/// <summary>Serves the server's meter (System.Diagnostics.Metrics, <see cref="ServerMetrics.MeterName"/>) at /metrics
/// through OpenTelemetry's Prometheus exporter. The names are the instruments' own, with the exporter's <c>_total</c>
/// on counters; the instruments carry a unit only where their name already ends with it, so that the exporter adds no
/// unit suffix. Every scrape reads afresh (no response cache: a client that writes and then scrapes sees its write);
/// what costs I/O to read is read once per scrape by <see cref="ScrapeSnapshot{T}"/>, and concurrent scrapes share one
/// collection (the exporter's).</summary>
public sealed class PrometheusExporter : IDisposable
{
    private readonly MeterProvider _provider = Sdk.CreateMeterProviderBuilder()
        .AddMeter(ServerMetrics.MeterName)
        .AddPrometheusExporter(o =>
        {
            o.ScrapeEndpointPath = Routes.Metrics;
            o.ScrapeResponseCacheDurationMilliseconds = 0;
            o.ScopeInfoEnabled = false; // no otel_scope_* labels: the series keep the labels they had
            o.TargetInfoEnabled = false; // no target_info family: the server's name and version are in /v1/status
        })
        .Build();

    /// <summary>Maps the scrape route; the caller names it (the name is what authorization and the request counts key on).</summary>
    public IEndpointConventionBuilder Map(IEndpointRouteBuilder app) =>
        app.MapPrometheusScrapingEndpoint(Routes.Metrics, _provider, configureBranchedPipeline: null, optionsName: null)
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get])); // as before: the exporter's own endpoint takes any method

    public void Dispose() => _provider.Dispose();
}
