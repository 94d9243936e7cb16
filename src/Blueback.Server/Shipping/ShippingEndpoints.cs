using System.Text.Json;
using Blueback.Protocol;
using Blueback.Server.Http;
using Blueback.Server.Instances;
using Blueback.Storage;
using Blueback.Storage.Shipping;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Blueback.Server.Shipping;

/// <summary>The shipping API (docs/shipping.md): a shipper claims the instance, long-polls for closed generations
/// (the server closes the current one early once its oldest commit has waited the shipper's roll age), fetches each
/// one verified, and acknowledges what its repository holds durably; the server then may delete it.</summary>
internal static class ShippingEndpoints
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    public static void Map(IEndpointRouteBuilder app, InstanceHost host, ShipperLeases leases, IHostApplicationLifetime lifetime, Backups.BackgroundPriority reads)
    {
        app.MapPost(Routes.Templates.Shipping, async (HttpContext ctx, string instance) =>
        {
            if (!Resolve.Instance(host, instance, out var inst, out var error))
            {
                return error!;
            }
            ShippingClaimRequest? req;
            try
            {
                req = await JsonSerializer.DeserializeAsync(ctx.Request.Body, ProtocolJson.Default.ShippingClaimRequest, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Problems.BadRequest($"The body is not valid JSON: {ex.Message}. Send {{\"shipperId\":\"...\",\"repositoryId\":\"...\",\"repository\":\"...\",\"resumeAfter\":N}}.");
            }
            if (req is null || !IsId(req.ShipperId))
            {
                return Problems.BadRequest("The shipper id must be 32 lowercase hex digits (a GUID in N format), chosen once per run of the shipper.");
            }
            if (req.RepositoryId is not { Length: > 0 and <= 64 } || !req.RepositoryId.All(char.IsAsciiLetterOrDigit))
            {
                return Problems.BadRequest("The repository id must be 1 to 64 letters or digits (the id in the repository's config.json).");
            }
            if (leases.TryTake(inst.Name, req.ShipperId) is { } held)
            {
                return Problems.Of(StatusCodes.Status409Conflict, "Already shipped", held);
            }
            try
            {
                var mark = inst.ClaimShipping(req.RepositoryId, req.Repository.Length > 1024 ? req.Repository[..1024] : req.Repository, req.ResumeAfter);
                return Results.Json(new ShippingClaimResponse
                {
                    Instance = inst.Name,
                    LogSignature = inst.LogSignature.Id.ToString("N"),
                    ShippedThrough = mark.ShippedThrough,
                    CompleteThrough = inst.CompleteThrough,
                    LeaseSeconds = (int)leases.Length.TotalSeconds,
                    WireCodecs = Backups.ChunkFrames.Codecs,
                }, ProtocolJson.Default.ShippingClaimResponse);
            }
            catch (Exception ex) when (ex is StorageException)
            {
                leases.Release(inst.Name, req.ShipperId);
                return Refused(ex);
            }
        }).WithName("backup-ship-claim");

        app.MapGet(Routes.Templates.ShippingReady, async (HttpContext ctx, string instance, string? shipper, uint? after, int? rollAfterMs, int? waitMs) =>
        {
            if (!Resolve.Instance(host, instance, out var inst, out var error))
            {
                return error!;
            }
            if (Holder(leases, inst, shipper) is { } refused)
            {
                return refused;
            }
            if (after is null || rollAfterMs is not (>= 0 and <= 3_600_000) || waitMs is not (>= 0 and <= 600_000))
            {
                return Problems.BadRequest("Give after=GEN (the last generation shipped), rollAfterMs (0 to 3600000: close the current generation once its oldest commit is this old) and waitMs (0 to 600000: how long to wait for one).");
            }
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
            var wait = TimeSpan.FromMilliseconds(Math.Min(waitMs.Value, MaxWait.TotalMilliseconds));
            var deadline = DateTime.UtcNow + wait;
            var rollAfter = TimeSpan.FromMilliseconds(rollAfterMs.Value);
            try
            {
                while (true)
                {
                    var ready = await inst.CloseForShippingAsync(rollAfter, cts.Token).ConfigureAwait(false);
                    leases.Renew(inst.Name, shipper!);
                    var now = DateTime.UtcNow;
                    if (ready.CompleteThrough > after.Value || now >= deadline)
                    {
                        return Results.Json(new ShippingReady { CompleteThrough = ready.CompleteThrough, Cover = ready.Cover, ServerTime = now }, ProtocolJson.Default.ShippingReady);
                    }
                    await Task.Delay(Poll, cts.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return Problems.Of(StatusCodes.Status503ServiceUnavailable, "Shutting down", "The server is stopping (or the shipper went away); the shipper retries once it is back.");
            }
            catch (StorageException ex)
            {
                return Refused(ex);
            }
        }).WithName("backup-ship-ready");

        app.MapGet(Routes.Templates.ShippingLog, (HttpContext ctx, string instance, uint generation, string? shipper) =>
            SendGenerationAsync(ctx, host, leases, instance, generation, shipper, async bytes =>
            {
                ctx.Response.ContentLength = bytes.Length;
                await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted).ConfigureAwait(false);
            })).WithName("backup-ship-log");

        // The same generation cut into the repository's chunks and compressed here (Backups.ChunkFrames): what a shipper
        // on another host uses when the claim offers it.
        app.MapGet(Routes.Templates.ShippingLogChunks, async (HttpContext ctx, string instance, uint generation, string? shipper) =>
        {
            if (Backups.ChunkFrames.Parse(ctx.Request.Query, 0, out var problem) is not { } request)
            {
                await Problems.BadRequest(problem!).ExecuteAsync(ctx).ConfigureAwait(false);
                return;
            }
            await SendGenerationAsync(ctx, host, leases, instance, generation, shipper, async bytes =>
            {
                using var source = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(bytes, out var segment)
                    ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                    : new MemoryStream(bytes.ToArray(), writable: false);
                await Backups.ChunkFrames.SendAsync(source, request, System.Collections.Frozen.FrozenSet<Backups.ContentHash>.Empty, ctx.Response, reads, _ => Task.CompletedTask, static _ => { }, ctx.RequestAborted).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }).WithName("backup-ship-log-chunks");

        app.MapPost(Routes.Templates.ShippingAck, async (HttpContext ctx, string instance) =>
        {
            if (!Resolve.Instance(host, instance, out var inst, out var error))
            {
                return error!;
            }
            ShippingAckRequest? req;
            try
            {
                req = await JsonSerializer.DeserializeAsync(ctx.Request.Body, ProtocolJson.Default.ShippingAckRequest, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Problems.BadRequest($"The body is not valid JSON: {ex.Message}. Send {{\"shipperId\":\"...\",\"repositoryId\":\"...\",\"through\":N}}.");
            }
            if (req is null)
            {
                return Problems.BadRequest("Send {\"shipperId\":\"...\",\"repositoryId\":\"...\",\"through\":N}.");
            }
            if (Holder(leases, inst, req.ShipperId) is { } refused)
            {
                return refused;
            }
            try
            {
                var deleted = inst.AcknowledgeShipped(req.RepositoryId, req.Through);
                return Results.Json(new ShippingAckResponse { ShippedThrough = inst.Shipping?.ShippedThrough ?? req.Through, Deleted = deleted.ToList() }, ProtocolJson.Default.ShippingAckResponse);
            }
            catch (StorageException ex)
            {
                return Refused(ex);
            }
        }).WithName("backup-ship-ack");

        app.MapDelete(Routes.Templates.Shipping, (string instance, string? shipper) =>
        {
            if (host.Find(instance) is { } inst && shipper is not null)
            {
                leases.Release(inst.Name, shipper);
            }
            return Results.NoContent(); // idempotent: the lease ends; the mark (and the logs it keeps) stays
        }).WithName("backup-ship-release");

        app.MapPost(Routes.Templates.ShippingDisable, (string instance) =>
        {
            if (!Resolve.Instance(host, instance, out var inst, out var error))
            {
                return error!;
            }
            inst.StopShipping();
            leases.Forget(inst.Name);
            return Results.NoContent();
        }).WithName("shipping-disable");
    }

    private static bool IsId(string? id) => id is { Length: 32 } && id.All(char.IsAsciiHexDigitLower);

    /// <summary>Null when <paramref name="shipper"/> holds the instance's lease (renewed), else the 4xx.</summary>
    /// <summary>A closed generation, read and checked whole (every record, its end record: a damaged one is never
    /// sent), handed to <paramref name="send"/>; a refusal as a problem; a shipper gone mid-generation cuts the
    /// connection (it asks again).</summary>
    private static async Task SendGenerationAsync(HttpContext ctx, InstanceHost host, ShipperLeases leases, string instance, uint generation, string? shipper, Func<ReadOnlyMemory<byte>, Task> send)
    {
        if (!Resolve.Instance(host, instance, out var inst, out var error))
        {
            await error!.ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        if (Holder(leases, inst, shipper) is { } refused)
        {
            await refused.ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        ReadOnlyMemory<byte> bytes;
        try
        {
            bytes = await Task.Run(() => inst.ReadForShipping(generation).Bytes, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (StorageException ex)
        {
            await Refused(ex).ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        ctx.Response.ContentType = "application/octet-stream";
        try
        {
            await send(bytes).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or Backups.BackupEndpoints.SourceReadException)
        {
            ctx.Abort(); // the shipper went away mid-generation; it asks again
        }
    }

    private static IResult? Holder(ShipperLeases leases, StorageInstance inst, string? shipper)
    {
        if (!IsId(shipper))
        {
            return Problems.BadRequest("Give shipper=ID (the 32 hex digits the shipper claimed the instance with).");
        }
        if (leases.Renew(inst.Name, shipper!))
        {
            return null;
        }
        return Problems.Of(StatusCodes.Status409Conflict, "Not the shipper", leases.HeldByOther(inst.Name, shipper!) is { } held
            ? held
            : $"Shipper {shipper} does not hold instance '{inst.Name}' (its lease ended, or the server restarted): claim it again with POST {Routes.Shipping(inst.Name)}.");
    }

    private static IResult Refused(Exception ex) => ex switch
    {
        ShippingRefusedException => Problems.Of(StatusCodes.Status409Conflict, "Shipping refused", ex.Message),
        _ => Problems.FromException(ex),
    };
}
