using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Endpoints;

internal static class Body
{
    /// <summary>Reads a request body of at most <paramref name="limit"/> bytes. A declared length over the limit
    /// is refused before reading; an undeclared one is read only until it passes the limit.</summary>
    public static async Task<(byte[] Body, bool TooBig)> ReadAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        if (request.ContentLength is { } declared)
        {
            if (declared > limit)
            {
                return ([], true);
            }
            var exact = new byte[declared];
            await request.Body.ReadExactlyAsync(exact, ct).ConfigureAwait(false);
            return (exact, false);
        }
        using var ms = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = await request.Body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > limit)
            {
                return ([], true);
            }
            ms.Write(buffer, 0, n);
        }
        return (ms.ToArray(), false);
    }
}
