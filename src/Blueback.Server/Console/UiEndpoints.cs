using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Console;

/// <summary>The web console at /ui: a page, a script and a style sheet embedded in the server (nothing fetched from
/// elsewhere). They hold no data and need no token; the page asks the API for everything with the token the operator
/// signs in with.</summary>
internal static class UiEndpoints
{
    private static readonly Dictionary<string, (byte[] Body, string Type)> Files = Load();

    private static Dictionary<string, (byte[], string)> Load()
    {
        var asm = typeof(UiEndpoints).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("ui/", StringComparison.Ordinal)))
        {
            using var s = asm.GetManifestResourceStream(name)!;
            using var m = new MemoryStream();
            s.CopyTo(m);
            var file = name["ui/".Length..];
            files[file] = (m.ToArray(), Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                _ => "application/octet-stream",
            });
        }
        return files;
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        // /ui and /ui/ are the page; the page names its script and style sheet by absolute paths.
        app.MapGet("/ui/{file?}", (HttpContext ctx, string? file) => Serve(ctx, file ?? "index.html")).WithName("ui");
    }

    private static IResult Serve(HttpContext ctx, string file)
    {
        if (!Files.TryGetValue(file, out var f))
        {
            return Http.Problems.NotFound($"The console has no file '{file}'; open /ui/.");
        }
        var h = ctx.Response.Headers;
        // Only this server's own script, style and API; no framing, no referrer (the page's address carries nothing secret anyway).
        h.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
        h.XContentTypeOptions = "nosniff";
        h["Referrer-Policy"] = "no-referrer";
        h.CacheControl = "no-cache";
        return Results.Bytes(f.Body, f.Type);
    }
}
