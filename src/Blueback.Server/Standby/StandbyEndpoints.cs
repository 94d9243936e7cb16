using Blueback.Protocol;
using Blueback.Server.Http;
using Blueback.Server.Instances;
using Blueback.Storage;
using Blueback.Storage.Restore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Standby;

/// <summary>POST /v1/instances/{instance}/promote (admin): the warm standby becomes a primary. GET a page's image
/// (backup role), for a primary repairing that page.</summary>
internal static class StandbyEndpoints
{
    public static void Map(IEndpointRouteBuilder app, InstanceHost host, StandbyFollower? follower)
    {
        app.MapGet(Routes.Templates.StandbyPage, (HttpContext ctx, string instance, string database, string page) =>
        {
            if (!uint.TryParse(page, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pageNo))
            {
                return Problems.BadRequest($"Page '{page}' is not a page number (0 to {uint.MaxValue}).");
            }
            if (!Resolve.Instance(host, instance, out var inst, out var error) || !Resolve.Database(inst, database, out var db, out error))
            {
                return error!;
            }
            try
            {
                var (data, applied) = inst.PageForRepair(db, pageNo);
                ctx.Response.Headers[PageRepairHeaders.AppliedThrough] = applied.ToString();
                ctx.Response.Headers[PageRepairHeaders.LogSignature] = StandbyPageSource.FormatSignature(inst.LogSignature);
                ctx.Response.Headers[PageRepairHeaders.DatabaseSignature] = StandbyPageSource.FormatSignature(db.Signature);
                return Results.Bytes(data, "application/octet-stream");
            }
            catch (Exception ex) when (ex is StorageException or ObjectDisposedException)
            {
                return Problems.FromException(ex);
            }
        }).WithName("backup-standby-page");

        app.MapPost(Routes.Templates.Promote, async (HttpContext ctx, string instance) =>
        {
            if (follower is null || follower.Instance != instance)
            {
                return Problems.Of(StatusCodes.Status409Conflict, "Not a standby", $"Instance '{instance}' is not a warm standby on this server (start one with 'blueback standby'); only a standby can be promoted.");
            }
            RecoveryStop? stop = null;
            if (ctx.Request.Query["stop"] is { Count: > 0 } text && !RecoveryStop.TryParse(text.ToString(), out stop))
            {
                return Problems.Of(StatusCodes.Status400BadRequest, "Bad stop point", $"stop '{text}' is not a stop point: give a time in ISO 8601 (2026-11-22T10:15:00.1234567Z) or a log position GEN:OFFSET (as 'blueback db logs' prints).");
            }
            try
            {
                var result = await follower.PromoteAsync(stop, CancellationToken.None).ConfigureAwait(false); // short and bounded: never left half done by a client that went away
                return Results.Json(result, ProtocolJson.Default.PromoteResponse);
            }
            catch (StorageException ex)
            {
                return Problems.FromException(ex);
            }
        }).WithName("standby-promote");
    }
}
