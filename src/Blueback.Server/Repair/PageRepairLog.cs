using System.Diagnostics.Metrics;
using Blueback.Storage.Repair;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Repair;

/// <summary>What the server does with every page repair attempt, whatever the source (a standby, a repository): logs
/// it naming database, page and source, counts it (blueback_page_repairs_total) and keeps the last ones for the
/// console's alerts.</summary>
internal sealed class PageRepairLog : IDisposable
{
    private const int Kept = 20;
    private readonly ILogger _logger;
    private readonly Meter _meter = new(Observability.ServerMetrics.MeterName);
    private readonly Counter<long> _repairs;
    private readonly Lock _lock = new();
    private readonly List<PageRepairReport> _recent = [];

    public PageRepairLog(ILogger logger)
    {
        _logger = logger;
        _repairs = _meter.CreateCounter<long>("blueback_page_repairs", description: "Pages that failed their checksum in a read and were sent to the repair source, by result (repaired or failed).");
    }

    /// <summary>The last attempts (the newest last; at most <see cref="Kept"/>).</summary>
    public IReadOnlyList<PageRepairReport> Recent
    {
        get
        {
            lock (_lock)
            {
                return [.. _recent];
            }
        }
    }

    public void Report(PageRepairReport report)
    {
        _repairs.Add(1, new KeyValuePair<string, object?>("instance", report.Instance), new KeyValuePair<string, object?>("result", report.Repaired ? "repaired" : "failed"));
        lock (_lock)
        {
            _recent.Add(report);
            if (_recent.Count > Kept)
            {
                _recent.RemoveAt(0);
            }
        }
        if (report.Repaired)
        {
            _logger.LogWarning("Page {Page} of database '{Database}' of instance {Instance} ('{File}') failed its checksum and was repaired from {Source}: {Detail}", report.Page, report.Database, report.Instance, report.File, report.Source, report.Detail);
        }
        else
        {
            _logger.LogError("Page {Page} of database '{Database}' of instance {Instance} ('{File}') failed its checksum and could not be repaired from {Source}: {Detail}", report.Page, report.Database, report.Instance, report.File, report.Source, report.Detail);
        }
    }

    public void Dispose() => _meter.Dispose();
}
