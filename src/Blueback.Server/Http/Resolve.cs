using Blueback.Server.Instances;
using Blueback.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Blueback.Server.Http;

/// <summary>Finds the instance, database and key a request names, or the 4xx that says what is wrong.</summary>
internal static class Resolve
{
    public static bool Instance(InstanceHost host, string name, out StorageInstance instance, out IResult? error)
    {
        var slot = host.Slot(name);
        instance = slot?.Instance!;
        error = slot is null
            ? Problems.NotFound($"Instance '{name}' does not exist on this server. It serves: {string.Join(", ", host.Instances.Select(i => i.Name))}.")
            : instance is null ? Problems.Unavailable(slot) : null;
        return error is null;
    }

    public static bool Database(StorageInstance instance, string name, out Database database, out IResult? error)
    {
        database = instance.TryGetDatabase(name)!;
        error = database is null
            ? Problems.NotFound($"Database '{name}' does not exist in instance '{instance.Name}'. It has: {string.Join(", ", instance.Databases.Select(d => d.Name))}.")
            : null;
        return error is null;
    }

    /// <summary>The key, decoded byte for byte from the raw request target (routing would decode '%2F' away).</summary>
    public static bool Key(HttpContext ctx, out byte[] key, out IResult? error)
    {
        key = [];
        error = null;
        var raw = ctx.Features.Get<IHttpRequestFeature>()?.RawTarget ?? ctx.Request.Path.Value ?? "";
        int q = raw.IndexOf('?', StringComparison.Ordinal);
        var path = q >= 0 ? raw[..q] : raw;
        // /v1/instances/{i}/databases/{d}/tables/{t}/keys/{key...}
        int slashes = 0, at = -1;
        for (int i = 0; i < path.Length; i++)
        {
            if (path[i] == '/' && ++slashes == 9)
            {
                at = i + 1;
                break;
            }
        }
        if (at < 0 || at >= path.Length)
        {
            error = Problems.BadRequest("The key is empty. Put the key, percent-encoded, after '/keys/'.");
            return false;
        }
        if (!Protocol.PercentEncoding.TryDecode(path.AsSpan(at), out key))
        {
            error = Problems.BadRequest("The key has a malformed percent-escape; encode each byte as %XX.");
            return false;
        }
        if (key.Length == 0)
        {
            error = Problems.BadRequest("The key is empty.");
            return false;
        }
        if (key.Length > Protocol.Routes.Limits.MaxKeyBytes)
        {
            error = Problems.BadRequest($"The key is {key.Length} bytes; keys are at most {Protocol.Routes.Limits.MaxKeyBytes} bytes.");
            return false;
        }
        return true;
    }
}
