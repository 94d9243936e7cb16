using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Blueback.Protocol;
using T = Blueback.Protocol.Routes.Templates;

namespace Blueback.EndToEnd.Tests;

/// <summary>/openapi/v1.json of a real server describes every route of Routes.cs with its methods, and describes
/// nothing the server does not serve: a route added without its description fails here.</summary>
public partial class OpenApiTests
{
    /// <summary>The methods of every route constant in Routes and Routes.Templates (the test below checks that this
    /// table names them all, so a new constant needs a line here, and the document must then describe it).</summary>
    private static readonly Dictionary<string, string[]> Methods = new(StringComparer.Ordinal)
    {
        [Routes.Health] = ["get"],
        [Routes.Metrics] = ["get"],
        [Routes.Status] = ["get"],
        [Routes.Backups] = ["get"],
        [Routes.Tokens] = ["get", "post"],
        [Routes.Restores] = ["get"],
        [Routes.Policies] = ["get"],
        [Routes.Alerts] = ["get"],
        [Routes.AlertHistory] = ["get"],
        [T.AlertAck] = ["post"],
        [Routes.MetricsHistory] = ["get"],
        [T.Key] = ["delete", "get", "put"],
        [T.Keys] = ["get"],
        [T.Batch] = ["post"],
        [T.BeginBackup] = ["post"],
        [T.Backup] = ["delete", "get"],
        [T.BackupImage] = ["get"],
        [T.BackupChangedPages] = ["get"],
        [T.BackupLogs] = ["post"],
        [T.BackupLog] = ["get"],
        [T.BackupImageChunks] = ["get"],
        [T.BackupChangedPagesChunks] = ["get"],
        [T.BackupLogChunks] = ["get"],
        [T.BackupKnownChunks] = ["post"],
        [T.ShippingLogChunks] = ["get"],
        [T.BackupTruncate] = ["post"],
        [T.BackupDigest] = ["get"],
        [T.BackupEnd] = ["post"],
        [T.Token] = ["delete"],
        [T.BeginRestore] = ["post"],
        [T.Restore] = ["delete", "get"],
        [T.RestoreImage] = ["put"],
        [T.RestoreChangedPages] = ["put"],
        [T.RestoreLog] = ["put"],
        [T.RestoreRecover] = ["post"],
        [T.BeginLoad] = ["post"],
        [T.Load] = ["delete", "get"],
        [T.LoadRows] = ["post"],
        [T.LoadCommit] = ["post"],
        [T.Shipping] = ["delete", "post"],
        [T.ShippingReady] = ["get"],
        [T.ShippingLog] = ["get"],
        [T.ShippingAck] = ["post"],
        [T.ShippingDisable] = ["post"],
        [T.Promote] = ["post"],
        [T.StandbyPage] = ["get"],
        [T.Policy] = ["delete", "get", "put"],
        [T.PolicyRun] = ["post"],
        [T.PolicyJob] = ["delete", "get"],
        [T.PolicySet] = ["get"],
        [T.PolicySetBrowse] = ["get"],
        [T.PolicySetBrowseTable] = ["get"],
        [T.PolicyHistory] = ["get"],
    };

    /// <summary>Constants that are not routes: the prefix the key routes share.</summary>
    private static readonly HashSet<string> NotRoutes = new(StringComparer.Ordinal) { T.Table };

    [GeneratedRegex(@"\{\*?(?<name>[a-zA-Z]+)(:[^}?]*)?\??\}")]
    private static partial Regex RouteParameter();

    /// <summary>A server route template as OpenAPI writes its path: /keys/{*key} is /keys/{key}.</summary>
    private static string AsPath(string template) => RouteParameter().Replace(template, m => "{" + m.Groups["name"].Value + "}");

    private static IEnumerable<string> RouteConstants() =>
        new[] { typeof(Routes), typeof(Routes.Templates) }
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static))
            .Where(f => f is { IsLiteral: true } && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .Where(v => v.StartsWith('/') && !NotRoutes.Contains(v));

    [Fact]
    public void The_method_table_names_every_route_constant()
    {
        Assert.Equal(RouteConstants().Order(StringComparer.Ordinal), Methods.Keys.Order(StringComparer.Ordinal));
    }

    [Fact(Timeout = 180_000)]
    public async Task The_document_describes_every_route_and_only_routes_the_server_serves()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        // No token needed: it describes, it reveals no data.
        using var anonymous = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(30) };
        using var response = await anonymous.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        Assert.StartsWith("3.", root.GetProperty("openapi").GetString(), StringComparison.Ordinal);

        var documented = root.GetProperty("paths").EnumerateObject().ToDictionary(
            p => p.Name, p => p.Value.EnumerateObject().Select(o => o.Name).Where(m => m is "get" or "put" or "post" or "delete" or "patch" or "head").Order(StringComparer.Ordinal).ToArray(), StringComparer.Ordinal);
        // Every route of Routes.cs, with exactly its methods; nothing else (the console's files are not API).
        foreach (var (template, methods) in Methods)
        {
            Assert.True(documented.TryGetValue(AsPath(template), out var got), $"{template} is not in /openapi/v1.json (paths: {string.Join(", ", documented.Keys)})");
            Assert.True(methods.SequenceEqual(got), $"{template}: documented {string.Join(",", got)}, served {string.Join(",", methods)}");
        }
        Assert.Empty(documented.Keys.Except(Methods.Keys.Select(AsPath)));

        // Each operation: an id, a summary, a tag, its answers; the token routes name the bearer scheme and answer 401 with a problem.
        var bearer = root.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer");
        Assert.Equal("http", bearer.GetProperty("type").GetString());
        Assert.Equal("bearer", bearer.GetProperty("scheme").GetString());
        var schemas = root.GetProperty("components").GetProperty("schemas");
        foreach (var path in root.GetProperty("paths").EnumerateObject())
        {
            foreach (var op in path.Value.EnumerateObject().Where(o => documented[path.Name].Contains(o.Name)))
            {
                var what = $"{op.Name.ToUpperInvariant()} {path.Name}";
                Assert.True(op.Value.TryGetProperty("operationId", out _), $"{what}: no operationId");
                Assert.True(op.Value.TryGetProperty("summary", out var summary) && summary.GetString() is { Length: > 0 }, $"{what}: no summary");
                Assert.True(op.Value.TryGetProperty("tags", out _), $"{what}: no tag");
                var responses = op.Value.GetProperty("responses");
                Assert.True(responses.EnumerateObject().Any(r => r.Name.StartsWith('2')), $"{what}: no success answer");
                if (path.Name == Routes.Health)
                {
                    Assert.False(op.Value.TryGetProperty("security", out _), $"{what} needs no token");
                    continue;
                }
                Assert.True(op.Value.TryGetProperty("security", out var security) && security.EnumerateArray().Any(s => s.TryGetProperty("bearer", out _)), $"{what}: no bearer security");
                Assert.True(responses.TryGetProperty("401", out var unauthorized), $"{what}: no 401");
                Assert.True(unauthorized.GetProperty("content").TryGetProperty("application/problem+json", out _), $"{what}: its 401 is not a problem");
                // Every {name} of the path is a path parameter (OpenAPI requires it; the key's is read by the handler itself).
                foreach (var name in RouteParameter().Matches(path.Name).Select(m => m.Groups["name"].Value))
                {
                    Assert.True(op.Value.TryGetProperty("parameters", out var ps) && ps.EnumerateArray().Any(p => p.GetProperty("in").GetString() == "path" && p.GetProperty("name").GetString() == name), $"{what}: no path parameter {name}");
                }
            }
        }
        // The DTOs are the bodies: a few by name, and the error shape.
        Assert.Contains("BatchRequest", RequestSchema(root, T.Batch, "post"), StringComparison.Ordinal);
        Assert.Contains("StatusResponse", ResponseSchema(root, Routes.Status, "get", "200"), StringComparison.Ordinal);
        Assert.Contains("BeginBackupRequest", RequestSchema(root, T.BeginBackup, "post"), StringComparison.Ordinal);
        Assert.Contains("BackupSessionInfo", ResponseSchema(root, T.BeginBackup, "post", "201"), StringComparison.Ordinal);
        Assert.Contains("BeginRestoreRequest", RequestSchema(root, T.BeginRestore, "post"), StringComparison.Ordinal);
        Assert.Contains("ScanResponse", ResponseSchema(root, T.Keys, "get", "200"), StringComparison.Ordinal);
        Assert.Contains("Problem", ResponseSchema(root, T.Batch, "post", "400"), StringComparison.Ordinal);
        Assert.True(schemas.GetProperty("Problem").GetProperty("properties").TryGetProperty("detail", out _));
        Assert.True(schemas.GetProperty("BatchRequest").GetProperty("properties").TryGetProperty("ops", out _), "the DTOs' JSON names are the documented ones");
        // Nullable as the DTOs declare: ShippingClaimRequest's shipperId is a string, BatchRequest's ops may be null.
        Assert.Equal("string", schemas.GetProperty("ShippingClaimRequest").GetProperty("properties").GetProperty("shipperId").GetProperty("type").ToString());
        Assert.Contains("null", schemas.GetProperty("BatchRequest").GetProperty("properties").GetProperty("ops").GetProperty("type").ToString(), StringComparison.Ordinal);

        // Every documented operation is served: called with names that do not exist, none meets the server's "No route" fallback.
        using var http = TestToken.Http(server.Url, TimeSpan.FromSeconds(30));
        foreach (var (path, methods) in documented)
        {
            var url = RouteParameter().Replace(path, m => m.Groups["name"].Value == "generation" ? "7" : "nosuch");
            foreach (var method in methods)
            {
                using var request = new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), new Uri(url, UriKind.Relative));
                if (method is "put" or "post")
                {
                    request.Content = new ByteArrayContent([]);
                }
                using var answer = await http.SendAsync(request);
                var body = await answer.Content.ReadAsStringAsync();
                Assert.False(answer.StatusCode == HttpStatusCode.MethodNotAllowed || body.Contains("No route", StringComparison.Ordinal), $"{method.ToUpperInvariant()} {url}: documented, not served ({(int)answer.StatusCode} {body})");
            }
        }
    }

    private static string RequestSchema(JsonElement root, string template, string method) =>
        root.GetProperty("paths").GetProperty(AsPath(template)).GetProperty(method).GetProperty("requestBody").GetProperty("content").GetRawText();

    private static string ResponseSchema(JsonElement root, string template, string method, string status) =>
        root.GetProperty("paths").GetProperty(AsPath(template)).GetProperty(method).GetProperty("responses").GetProperty(status).GetRawText();
}
