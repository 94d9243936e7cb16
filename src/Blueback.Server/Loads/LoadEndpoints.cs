using System.Text.Json;
using Blueback.Protocol;
using Blueback.Server.Http;
using Blueback.Server.Instances;
using Blueback.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Blueback.Server.Loads;

/// <summary>The load API (the restore role): a granular restore stages a table's rows on the server and commits them
/// in one transaction, which a single batch could not carry (docs/restore.md, "Granular restore").</summary>
internal static class LoadEndpoints
{
    /// <summary>The largest post of rows (the client sends 4 MiB).</summary>
    public const long MaxRowsBody = 64L << 20;

    public static void Map(IEndpointRouteBuilder app, LoadSessions loads, IHostApplicationLifetime lifetime)
    {
        app.MapPost(Routes.Templates.BeginLoad, async (HttpContext ctx, string instance) =>
        {
            BeginLoadRequest? req;
            try
            {
                req = await JsonSerializer.DeserializeAsync(ctx.Request.Body, ProtocolJson.Default.BeginLoadRequest, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Problems.BadRequest($"The body is not valid JSON: {ex.Message}.");
            }
            if (req is null || Check(req) is { } bad)
            {
                return Problems.BadRequest(req is null ? "The body is empty; send {\"mode\":\"replace\"|\"into\",\"database\":...,\"table\":...}." : Check(req)!);
            }
            if (!Resolve.Instance(loads.Host, instance, out var inst, out var error) || !Resolve.Database(inst, req.Database, out _, out error))
            {
                return error!;
            }
            return Guard(() => Results.Json(loads.Begin(inst, req).Info(), ProtocolJson.Default.LoadInfo, statusCode: StatusCodes.Status201Created));
        }).WithName("restore-load-begin");

        app.MapGet(Routes.Templates.Load, (string id) =>
            loads.Find(id) is { } l ? Results.Json(l.Info(), ProtocolJson.Default.LoadInfo) : NoLoad(id)).WithName("restore-load-get");

        app.MapPost(Routes.Templates.LoadRows, async (HttpContext ctx, string id) =>
        {
            if (loads.Find(id) is not { } load)
            {
                return NoLoad(id);
            }
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
            return await GuardAsync(async () =>
            {
                using var body = await Body.ReadPooledAsync(ctx.Request, MaxRowsBody, cts.Token).ConfigureAwait(false);
                if (body.TooBig)
                {
                    return Problems.Of(StatusCodes.Status413PayloadTooLarge, "Too large", $"A post of rows may hold at most {MaxRowsBody:N0} bytes; send the rows in several posts.");
                }
                await load.AppendAsync(body.Memory, cts.Token).ConfigureAwait(false);
                return Results.Json(load.Info(), ProtocolJson.Default.LoadInfo);
            }).ConfigureAwait(false);
        }).WithName("restore-load-rows");

        app.MapPost(Routes.Templates.LoadCommit, async (HttpContext ctx, string id) =>
        {
            if (loads.Find(id) is not { } load)
            {
                return NoLoad(id);
            }
            if (!Resolve.Instance(loads.Host, load.Instance, out var inst, out var error) || !Resolve.Database(inst, load.Request.Database, out var db, out error))
            {
                return error!;
            }
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
            return await GuardAsync(async () =>
            {
                var aborted = await load.BeginCommitAsync(cts.Token).ConfigureAwait(false);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(cts.Token, aborted);
                try
                {
                    var r = await LoadApply.RunAsync(inst, db, load, both.Token).ConfigureAwait(false);
                    load.EndCommit(null);
                    loads.Committed(load, r);
                    ctx.Response.Headers[Routes.CommitLsnHeader] = r.CommitLsn;
                    ctx.Response.Headers[Routes.CommitTimeHeader] = r.CommitTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
                    return Results.Json(r, ProtocolJson.Default.LoadCommitResponse);
                }
                catch (Exception ex)
                {
                    // Nothing was committed (the transaction rolled back): the load ends, its rows go.
                    load.EndCommit(ex is OperationCanceledException ? "its commit was cancelled (client gone, load aborted or server stopping)" : ex.Message);
                    throw;
                }
            }).ConfigureAwait(false);
        }).WithName("restore-load-commit");

        app.MapDelete(Routes.Templates.Load, (string id) =>
        {
            if (loads.Find(id) is { } l)
            {
                loads.Abort(l, "aborted by its client");
            }
            return Results.NoContent(); // idempotent, as for backups and restores
        }).WithName("restore-load-abort");
    }

    private static string? Check(BeginLoadRequest req)
    {
        if (req.Mode is not ("replace" or "into"))
        {
            return $"mode must be \"replace\" or \"into\", not \"{req.Mode}\".";
        }
        if (string.IsNullOrEmpty(req.Database))
        {
            return "database is required.";
        }
        if (req.Mode == "into" && (string.IsNullOrEmpty(req.Table) || string.IsNullOrEmpty(req.Into)))
        {
            return "mode \"into\" needs table (the rows' table) and into (the new table to write them to).";
        }
        if (req.Mode == "replace" && req.Into is not null)
        {
            return "into is only for mode \"into\".";
        }
        if ((req.From is not null || req.To is not null) && req.Table is null)
        {
            return "a key range (from, to) needs a table.";
        }
        if (req.From is { } f && req.To is { } t && f.AsSpan().SequenceCompareTo(t) >= 0)
        {
            return "from must be below to: the range [from, to) would be empty.";
        }
        return null;
    }

    private static IResult NoLoad(string id) =>
        Problems.NotFound($"There is no load '{id}' on this server (it never existed, or ended long ago). Begin one with POST /v1/instances/{{instance}}/loads.");

    private static IResult Guard(Func<IResult> body) => Guarded.Run(body, Map);

    private static Task<IResult> GuardAsync(Func<Task<IResult>> body) => Guarded.RunAsync(body, Map);

    private static IResult? Map(Exception ex) => ex switch
    {
        LoadRowsException => Problems.BadRequest(ex.Message),
        LoadStateException => Problems.Of(StatusCodes.Status409Conflict, "Load refused", ex.Message),
        LoadTooLargeException => Problems.Of(StatusCodes.Status413PayloadTooLarge, "Too large", ex.Message),
        StorageLimitException => Problems.Of(StatusCodes.Status413PayloadTooLarge, "Too large",
            $"{ex.Message} The load was not applied: restore a key range at a time (--from-key/--to-key), or raise the server's cache size."),
        BadHttpRequestException b => Problems.Of(b.StatusCode, "Bad request", b.Message),
        StorageException or OperationCanceledException or ObjectDisposedException or IOException => Problems.FromException(ex),
        _ => null,
    };
}
