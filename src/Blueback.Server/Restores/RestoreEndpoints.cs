using System.Text.Json;
using Blueback.Protocol;
using Blueback.Protocol.Wire;
using Blueback.Server.Http;
using Blueback.Server.Instances;
using Blueback.Storage;
using Blueback.Storage.Restore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Restores;

/// <summary>The restore API: a session per running restore that receives database images and log generations
/// (each checked against the SHA-256 the client sends), runs hard recovery in the background, and mounts the
/// result as a new instance or in place of one. The server knows nothing of repositories: the client reads the
/// set and streams its files.</summary>
internal static class RestoreEndpoints
{
    /// <summary>The largest file one upload may carry (a database image or a log generation).</summary>
    private const long MaxUploadBytes = 1L << 40;

    public static void Map(IEndpointRouteBuilder app, InstanceHost host, RestoreSessions sessions)
    {
        app.MapPost(Routes.Templates.BeginRestore, async (HttpContext ctx, string instance) =>
        {
            BeginRestoreRequest? req;
            try
            {
                req = await JsonSerializer.DeserializeAsync(ctx.Request.Body, ProtocolJson.Default.BeginRestoreRequest, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Problems.BadRequest($"The body is not valid JSON: {ex.Message}.");
            }
            var bad = req is null ? "The body is empty; send the restore's description (see docs/restore.md)." : Check(instance, req);
            if (bad is not null)
            {
                return Problems.BadRequest(bad);
            }
            return Guard(() =>
            {
                var s = sessions.Begin(instance, req!.Mode == "replace", req, req.Id);
                if (ctx.RequestAborted.IsCancellationRequested)
                {
                    sessions.Abort(s, "the client went away before the restore's begin was answered");
                }
                return Results.Json(s.Info(), ProtocolJson.Default.RestoreSessionInfo, statusCode: StatusCodes.Status201Created);
            });
        }).WithName("restore-begin");

        // What runs now, with progress (the console's view; any token, as status).
        app.MapGet(Routes.Restores, () => Results.Json(new RestoreSessionList { Sessions = sessions.Running().Select(s => s.Info()).ToList() }, ProtocolJson.Default.RestoreSessionList))
            .WithName("restores-list");

        app.MapGet(Routes.Templates.Restore, (string id) =>
            WithSession(sessions, id, s => Results.Json(s.Info(), ProtocolJson.Default.RestoreSessionInfo))).WithName("restore-get");

        app.MapPut(Routes.Templates.RestoreImage, (HttpContext ctx, string id, string database) =>
            UploadAsync(ctx, sessions, id, database, 0)).WithName("restore-image");

        app.MapPut(Routes.Templates.RestoreChangedPages, (HttpContext ctx, string id, string database) =>
            UploadAsync(ctx, sessions, id, database, 0, changedPages: true)).WithName("restore-changed-pages");

        app.MapPut(Routes.Templates.RestoreLog, (HttpContext ctx, string id, uint generation) =>
            UploadAsync(ctx, sessions, id, null, generation)).WithName("restore-log");

        app.MapPost(Routes.Templates.RestoreRecover, (string id) =>
            WithSession(sessions, id, s =>
            {
                sessions.StartRecovery(s);
                return Results.Json(s.Info(), ProtocolJson.Default.RestoreSessionInfo, statusCode: StatusCodes.Status202Accepted);
            })).WithName("restore-recover");

        app.MapDelete(Routes.Templates.Restore, (string id) =>
        {
            sessions.AbortByClient(id); // its begin may be on its way still
            return Results.NoContent(); // idempotent: aborting twice, or an unknown session, is not an error
        }).WithName("restore-abort");
    }

    private static string? Check(string instance, BeginRestoreRequest req)
    {
        if (!Names.IsValid(instance))
        {
            return $"'{instance}' is not a valid instance name (1 to 64 letters, digits, '-', '_', '.', not starting with '.').";
        }
        if (req.Mode is not (null or "new" or "replace"))
        {
            return $"Mode '{req.Mode}' is not 'new' or 'replace'.";
        }
        if (req.Id is { } id && (id.Length != 32 || !id.All(char.IsAsciiHexDigitLower)))
        {
            return "A restore id chosen by the client must be 32 lowercase hex digits (a GUID in N format).";
        }
        if (req.Sets.Count == 0 || req.GenLow == 0 || req.GenHigh < req.GenLow - 1)
        {
            return $"The restore names no set or an empty generation range ({req.GenLow} to {req.GenHigh}); describe the sets being restored.";
        }
        if (req.Stop is { } stop)
        {
            try
            {
                RecoveryStop.Parse(stop);
            }
            catch (RestoreException ex)
            {
                return ex.Message;
            }
        }
        return null;
    }

    private static async Task UploadAsync(HttpContext ctx, RestoreSessions sessions, string id, string? database, uint generation, bool changedPages = false)
    {
        IResult? refusal = null;
        var s = sessions.Find(id);
        var sha = ctx.Request.Headers[Routes.Sha256Header].ToString();
        var sizesHeader = ctx.Request.Headers[Routes.ChunkSizesHeader].ToString();
        var encoding = ctx.Request.Headers[Routes.UploadEncodingHeader].ToString();
        bool framed = encoding == Routes.ChunkFramesEncoding;
        long? declared = ctx.Request.ContentLength;
        List<int>? chunkSizes = sizesHeader.Length == 0 ? null : ChunkSizes.Parse(sizesHeader, maxBytes: framed ? MaxUploadBytes : declared ?? 0);
        long size = framed ? chunkSizes?.Sum(n => (long)n) ?? 0 : declared ?? 0;
        // A whole file's body: its declared size, or for frames every chunk at its largest.
        long bound = framed ? chunkSizes is null ? 0 : FramedUpload.MaxBytes(chunkSizes) : size;
        if (s is null)
        {
            refusal = NoSession(id);
        }
        else if (encoding.Length > 0 && !framed)
        {
            refusal = Problems.BadRequest($"Upload encoding '{encoding}' is not known here: send '{Routes.ChunkFramesEncoding}', or the file's bytes without the {Routes.UploadEncodingHeader} header.");
        }
        else if (framed && (chunkSizes is null || chunkSizes.Any(n => n > ChunkFrame.MaxRawSize)))
        {
            refusal = Problems.BadRequest($"A chunk-frame upload needs the {Routes.ChunkSizesHeader} header (SIZE or SIZE*COUNT, comma-separated, each chunk at most {ChunkFrame.MaxRawSize:N0} bytes): the server reads exactly those chunks.");
        }
        else if (!framed && declared is null)
        {
            refusal = Problems.Of(StatusCodes.Status411LengthRequired, "Length required", "Send the file with Content-Length: the server checks that all of it arrived.");
        }
        else if (size > MaxUploadBytes)
        {
            refusal = Problems.Of(StatusCodes.Status413PayloadTooLarge, "Too large", $"A restore file may hold at most {MaxUploadBytes:N0} bytes; this one announces {size:N0}.");
        }
        else if (sha.Length != 64 || !sha.All(char.IsAsciiHexDigitLower))
        {
            refusal = Problems.BadRequest($"Send the file's SHA-256 (64 lowercase hex digits) in the {Routes.Sha256Header} header; the server checks the bytes against it.");
        }
        else if (!framed && sizesHeader.Length > 0 && (chunkSizes is null || chunkSizes.Sum(n => (long)n) != size))
        {
            refusal = Problems.BadRequest($"The {Routes.ChunkSizesHeader} header must list the file's chunk sizes (SIZE or SIZE*COUNT, comma-separated) adding up to its Content-Length ({size:N0}).");
        }
        else if (framed && (declared ?? 0) > bound)
        {
            refusal = Problems.Of(StatusCodes.Status413PayloadTooLarge, "Too large", $"A chunk-frame upload of these {chunkSizes!.Count} chunk(s) takes at most {bound:N0} bytes; this one announces {declared:N0}.");
        }
        else
        {
            if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = bound;
            }
            refusal = await GuardAsync(async () =>
            {
                await sessions.WriteAsync(s, database, generation, size, sha, ctx.Request.Body, ctx.RequestAborted, chunkSizes, changedPages, framed).ConfigureAwait(false);
                return Results.NoContent();
            }).ConfigureAwait(false);
        }
        await refusal.ExecuteAsync(ctx).ConfigureAwait(false);
    }

    private static IResult NoSession(string id) =>
        Problems.NotFound($"There is no restore session '{id}' on this server (it never existed, or ended long ago). Begin one with POST /v1/instances/{{instance}}/restores.");

    private static IResult WithSession(RestoreSessions sessions, string id, Func<HostedRestore, IResult> body) =>
        sessions.Find(id) is { } s ? Guard(() => body(s)) : NoSession(id);

    private static IResult Guard(Func<IResult> body) => Guarded.Run(body, Map);

    private static Task<IResult> GuardAsync(Func<Task<IResult>> body) => Guarded.RunAsync(body, Map);

    private static IResult? Map(Exception ex) => ex switch
    {
        RestoreConflictException => Problems.Of(StatusCodes.Status409Conflict, "Restore refused", ex.Message),
        RestoreSequenceException => Problems.Of(StatusCodes.Status409Conflict, "Out of order", ex.Message),
        RestoreException => Problems.Of(StatusCodes.Status422UnprocessableEntity, "Restore refused", ex.Message),
        OperationCanceledException => Problems.Of(StatusCodes.Status503ServiceUnavailable, "Cancelled", "The upload was cut short (the client went away, the restore was aborted, or the server is stopping)."),
        Microsoft.AspNetCore.Http.BadHttpRequestException b => Problems.Of(b.StatusCode, "Bad request", b.Message),
        IOException or UnauthorizedAccessException => Problems.Of(StatusCodes.Status500InternalServerError, "Storage error", $"The server could not write the file: {ex.Message}"),
        StorageException => Problems.FromException(ex),
        _ => null,
    };
}
