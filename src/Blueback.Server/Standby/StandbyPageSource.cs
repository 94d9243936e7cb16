using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Blueback.Protocol;
using Blueback.Storage.Format;
using Blueback.Storage.Repair;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Standby;

/// <summary>A primary's page repair source (blueback serve --repair-from URL): a warm standby of its instances,
/// asked for a page's image through its page route with a token of the backup role. Every attempt is logged,
/// counted (blueback_page_repairs_total) and kept for the console's alerts.</summary>
internal sealed class StandbyPageSource : IPageRepairSource, IDisposable
{
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly Meter _meter = new(Observability.ServerMetrics.MeterName);
    private readonly Counter<long> _repairs;
    private readonly Lock _lock = new();
    private readonly List<PageRepairReport> _recent = [];

    public StandbyPageSource(Uri standby, string token, ILogger logger)
    {
        Name = $"standby {standby.GetLeftPart(UriPartial.Authority)}";
        _logger = logger;
        // The engine bounds each fetch with its own token; this timeout only backs that up.
        _http = new HttpClient { BaseAddress = standby, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _repairs = _meter.CreateCounter<long>("blueback_page_repairs", description: "Pages that failed their checksum in a read and were sent to the repair source, by result (repaired or failed).");
    }

    public string Name { get; }

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

    private const int Kept = 20;

    public PageRepairImage? Fetch(PageRepairRequest request, CancellationToken cancellationToken)
    {
        using var ask = new HttpRequestMessage(HttpMethod.Get, Routes.StandbyPage(request.Instance, request.Database, request.Page));
        using var response = _http.Send(ask, HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        if (!response.IsSuccessStatusCode)
        {
            using var reader = new StreamReader(response.Content.ReadAsStream(cancellationToken));
            throw new HttpRequestException($"{Name} answered {(int)response.StatusCode}: {reader.ReadToEnd()}");
        }
        using var body = response.Content.ReadAsStream(cancellationToken);
        var data = new byte[request.PageSize];
        body.ReadExactly(data); // a shorter body is an error; a longer one is not a page of this size
        if (body.ReadByte() != -1)
        {
            throw new HttpRequestException($"{Name} sent more than the {request.PageSize} bytes of a page of database '{request.Database}'");
        }
        var applied = Header(response, PageRepairHeaders.AppliedThrough);
        if (!Lsn.TryParse(applied ?? "", out var through))
        {
            throw new HttpRequestException($"{Name} sent no valid {PageRepairHeaders.AppliedThrough} header ('{applied}')");
        }
        return new PageRepairImage(data, through, ParseSignature(Header(response, PageRepairHeaders.LogSignature)), ParseSignature(Header(response, PageRepairHeaders.DatabaseSignature)));
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

    /// <summary>A signature as the page route writes it, "ID.TICKS".</summary>
    public static string FormatSignature(Signature s) => $"{s.Id:N}.{s.CreatedTicks.ToString(CultureInfo.InvariantCulture)}";

    private Signature ParseSignature(string? text)
    {
        var parts = (text ?? "").Split('.');
        return parts.Length == 2 && Guid.TryParseExact(parts[0], "N", out var id) && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            ? new Signature(id, ticks)
            : throw new HttpRequestException($"{Name} sent a signature that is not ID.TICKS ('{text}')");
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    public void Dispose()
    {
        _http.Dispose();
        _meter.Dispose();
    }
}
