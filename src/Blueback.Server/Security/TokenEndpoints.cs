using System.Text.Json;
using Blueback.Protocol;
using Blueback.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Security;

/// <summary>Token management (admin only): create (the secret is in this one answer), list (never secrets), revoke.</summary>
internal static class TokenEndpoints
{
    public static void Map(IEndpointRouteBuilder app, TokenStore tokens)
    {
        app.MapPost(Routes.Tokens, async (HttpContext ctx) =>
        {
            CreateTokenRequest? req;
            try
            {
                req = await JsonSerializer.DeserializeAsync(ctx.Request.Body, ProtocolJson.Default.CreateTokenRequest, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Problems.BadRequest($"The body is not valid JSON: {ex.Message}. Send {{\"role\":\"backup\",\"name\":\"nightly\"}}.");
            }
            if (!Roles.TryParse(req?.Role, out var role))
            {
                return Problems.BadRequest($"Role '{req?.Role}' is not one of read, write, backup, restore, admin.");
            }
            var name = string.IsNullOrWhiteSpace(req!.Name) ? Roles.Name(role) : req.Name.Trim();
            if (name.Length > 100)
            {
                return Problems.BadRequest("A token's name is at most 100 characters.");
            }
            var (token, entry) = tokens.Create(name, role);
            return Results.Json(new TokenInfo { Id = entry.Id, Name = entry.Name, Role = entry.Role, Created = entry.Created, Token = token }, ProtocolJson.Default.TokenInfo, statusCode: StatusCodes.Status201Created);
        }).WithName("token-create");

        app.MapGet(Routes.Tokens, () => Results.Json(tokens.List().Select(t => new TokenInfo { Id = t.Id, Name = t.Name, Role = t.Role, Created = t.Created }).ToList(), ProtocolJson.Default.ListTokenInfo)).WithName("token-list");

        app.MapDelete(Routes.Templates.Token, (string id) =>
            tokens.Revoke(id) ? Results.NoContent() : Problems.NotFound($"There is no token with id '{id}'. 'blueback token list' shows them.")).WithName("token-revoke");
    }
}
