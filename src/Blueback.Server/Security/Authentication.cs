using Blueback.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Security;

/// <summary>Every route but the health check needs a bearer token, and the role its route names: 401 without a valid
/// token, 403 with the wrong role, both as problem+json, counted, and logged without the token.</summary>
internal static class Authentication
{
    /// <summary>The role each route needs; null: any valid token; absent: no token (the health check, the OpenAPI
    /// document, the console's files, and the 404 of routes that do not exist).</summary>
    private static readonly Dictionary<string, Role?> Needs = new(StringComparer.Ordinal)
    {
        ["get"] = Role.Read,
        ["scan"] = Role.Read,
        ["put"] = Role.Write,
        ["delete"] = Role.Write,
        ["batch"] = Role.Write,
        ["status"] = null,
        ["metrics"] = null,
        ["token-create"] = Role.Admin,
        ["token-list"] = Role.Admin,
        ["token-revoke"] = Role.Admin,
        ["shipping-disable"] = Role.Admin,
        ["standby-promote"] = Role.Admin,
        ["policy-list"] = null,
        ["policy-get"] = null,
        ["policy-history"] = null,
        ["policy-job"] = null,
        ["policy-set"] = null,
        ["policy-browse"] = Role.Read,
        ["policy-browse-table"] = Role.Read,
        ["policy-run"] = Role.Admin,
        ["policy-cancel"] = Role.Admin,
        ["policy-put"] = Role.Admin,
        ["policy-delete"] = Role.Admin,
        ["alerts"] = null,
        ["alert-history"] = null,
        ["alert-ack"] = Role.Admin,
        ["restores-list"] = null,
        ["metrics-history"] = null,
    };

    private static bool TryNeeds(string route, out Role? role)
    {
        if (Needs.TryGetValue(route, out role))
        {
            return true;
        }
        role = route.StartsWith("backup-", StringComparison.Ordinal) ? Role.Backup : route.StartsWith("restore-", StringComparison.Ordinal) ? Role.Restore : null;
        return role is not null;
    }

    /// <summary>Whether the named route needs a token, and which role (null: any).</summary>
    public static bool NeedsToken(string route, out Role? role) => TryNeeds(route, out role);

    public static void Use(IApplicationBuilder app, TokenStore tokens, Observability.ServerMetrics metrics, ILogger logger)
    {
        app.Use(async (ctx, next) =>
        {
            var route = ctx.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName;
            if (route is null || !TryNeeds(route, out var needed))
            {
                await next(ctx).ConfigureAwait(false);
                return;
            }
            var header = ctx.Request.Headers.Authorization.ToString();
            var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
            var entry = tokens.Verify(token);
            if (entry is null)
            {
                metrics.AuthFailure(token is null ? "missing" : "invalid");
                logger.LogWarning("Refused {Method} {Path} from {Remote}: {Reason} token", ctx.Request.Method, ctx.Request.Path, ctx.Connection.RemoteIpAddress, token is null ? "no" : "an invalid");
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                await Problems.Of(StatusCodes.Status401Unauthorized, "Token needed",
                    token is null
                        ? "This route needs a token: send 'Authorization: Bearer TOKEN' (clients: --token-file F or BLUEBACK_TOKEN). The server wrote an admin token to DATA/auth/admin.token on its first start; 'blueback token create' makes others."
                        : "The token is not valid (mistyped, or revoked). Ask an administrator for a new one ('blueback token create').").ExecuteAsync(ctx).ConfigureAwait(false);
                return;
            }
            Roles.TryParse(entry.Role, out var held);
            if (needed is { } n && !Roles.Grants(held, n))
            {
                metrics.AuthFailure("forbidden");
                logger.LogWarning("Refused {Method} {Path} from {Remote}: token {Id} ({Name}) has role {Role}, the route needs {Needed}", ctx.Request.Method, ctx.Request.Path, ctx.Connection.RemoteIpAddress, entry.Id, entry.Name, entry.Role, Roles.Name(n));
                await Problems.Of(StatusCodes.Status403Forbidden, "Role needed",
                    $"Token {entry.Id} ({entry.Name}) has role '{entry.Role}'; this route needs '{Roles.Name(n)}'{(n == Role.Read ? " (or 'write')" : "")} or 'admin'. Use a token with that role.").ExecuteAsync(ctx).ConfigureAwait(false);
                return;
            }
            ctx.Items[TokenItem] = entry; // who: an acknowledgement records it
            await next(ctx).ConfigureAwait(false);
        });
    }

    private const string TokenItem = "blueback.token";

    /// <summary>The token a request was let in with ("NAME (ID)"), for the records that say who did what.</summary>
    public static string Who(HttpContext ctx) => ctx.Items[TokenItem] is StoredToken t ? $"{t.Name} ({t.Id})" : "unknown";
}
