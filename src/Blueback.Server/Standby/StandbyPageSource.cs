using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Blueback.Protocol;
using Blueback.Storage.Format;
using Blueback.Storage.Repair;

namespace Blueback.Server.Standby;

/// <summary>A primary's page repair source (blueback serve --repair-from URL): a warm standby of its instances,
/// asked for a page's image through its page route with a token of the backup role. Every attempt goes to the
/// server's <see cref="Repair.PageRepairLog"/>.</summary>
internal sealed class StandbyPageSource : IPageRepairSource, IDisposable
{
    private readonly HttpClient _http;
    private readonly Repair.PageRepairLog _log;

    public StandbyPageSource(Uri standby, string token, Repair.PageRepairLog log)
    {
        Name = $"standby {standby.GetLeftPart(UriPartial.Authority)}";
        _log = log;
        // The engine bounds each fetch with its own token; this timeout only backs that up.
        _http = new HttpClient { BaseAddress = standby, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public string Name { get; }

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

    public void Report(PageRepairReport report) => _log.Report(report);

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

    public void Dispose() => _http.Dispose();
}
