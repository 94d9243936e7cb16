using System.Text.Json;
using Blueback.Protocol;
using Blueback.Server.Http;
using Blueback.Server.Instances;
using Blueback.Server.Observability;
using Blueback.Storage;
using Blueback.Storage.Backup;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Blueback.Server.Backups;

/// <summary>The backup API: a session per running backup, its state machine enforced (409 says what comes first),
/// images and logs streamed with Content-Length on the connection the client opened.</summary>
internal static class BackupEndpoints
{
    private const int CopyBuffer = 1 << 20;
    private static readonly TimeSpan DigestWait = TimeSpan.FromSeconds(10);

    public static void Map(IEndpointRouteBuilder app, InstanceHost host, BackupSessions sessions, ServerMetrics metrics, IHostApplicationLifetime lifetime, BackgroundPriority reads, BackupPacing pacing)
    {
        app.MapPost(Routes.Templates.BeginBackup, async (HttpContext ctx, string instance) =>
        {
            if (!Resolve.Instance(host, instance, out var inst, out var error))
            {
                return error!;
            }
            BeginBackupRequest? req;
            try
            {
                req = await JsonSerializer.DeserializeAsync(ctx.Request.Body, ProtocolJson.Default.BeginBackupRequest, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Problems.BadRequest($"The body is not valid JSON: {ex.Message}. Send {{\"type\":\"full\"}}.");
            }
            if (!BackupTypes.TryParse(req?.Type, out var type))
            {
                return Problems.BadRequest($"Backup type '{req?.Type}' is not one of full, copy, incremental, differential.");
            }
            var clientId = req?.Id;
            if (clientId is not null && (clientId.Length != 32 || !clientId.All(char.IsAsciiHexDigitLower)))
            {
                return Problems.BadRequest("A backup id chosen by the client must be 32 lowercase hex digits (a GUID in N format).");
            }
            return Guard(() =>
            {
                var s = sessions.Begin(inst, type, clientId, req?.ChangedSince);
                if (req?.Digest == true)
                {
                    s.Backup.RequestDigest();
                }
                // Until the answer is sent, a client that goes away (its begin cancelled) takes the session with it: Kestrel
                // may notice the closed connection only after this point, and the client's own abort may be lost on the way.
                var gone = ctx.RequestAborted.Register(() => sessions.Abort(s, "the client went away before the backup's begin was answered"));
                ctx.Response.OnCompleted(() =>
                {
                    gone.Dispose();
                    return Task.CompletedTask;
                });
                return Results.Json(s.Info(inst), ProtocolJson.Default.BackupSessionInfo, statusCode: StatusCodes.Status201Created);
            });
        }).WithName("backup-begin");

        app.MapGet(Routes.Backups, () => Results.Json(new BackupSessionList
        {
            Sessions = sessions.Running().Select(s => s.Info(host.Find(s.Backup.InstanceName)!)).ToList(),
        }, ProtocolJson.Default.BackupSessionList)).WithName("backup-list");

        app.MapGet(Routes.Templates.Backup, (string id) =>
            WithSession(host, sessions, id, allowFinished: true, (s, inst) => Results.Json(s.Info(inst), ProtocolJson.Default.BackupSessionInfo))).WithName("backup-get");

        // ?offset=&length= (whole pages): part of the image, so that a program can read several parts at once.
        app.MapGet(Routes.Templates.BackupImage, (HttpContext ctx, string id, string database, long? offset, long? length) =>
            StreamAsync(ctx, host, sessions, metrics, lifetime, reads, pacing, id, s => s.Backup.OpenDatabaseImage(database, offset ?? 0, length),
                offset is null && length is null ? $"the image of database '{database}'" : $"bytes {offset ?? 0}+{length} of the image of database '{database}'")).WithName("backup-image");

        app.MapGet(Routes.Templates.BackupChangedPages, (HttpContext ctx, string id, string database) =>
            StreamAsync(ctx, host, sessions, metrics, lifetime, reads, pacing, id, s => s.Backup.OpenChangedPages(database), $"the changed pages of database '{database}'")).WithName("backup-changed-pages");

        // The same streams cut into the program's chunks, hashed and compressed here (ChunkFrames): what a backup
        // program uses when the server offers it (BackupSessionInfo.WireCodecs).
        app.MapGet(Routes.Templates.BackupImageChunks, (HttpContext ctx, string id, string database, long? offset, long? length) =>
            StreamChunksAsync(ctx, offset ?? 0, request => StreamAsync(ctx, host, sessions, metrics, lifetime, reads, pacing, id, s => s.Backup.OpenDatabaseImage(database, offset ?? 0, length),
                $"chunks {offset ?? 0}+{length} of the image of database '{database}'", request))).WithName("backup-image-chunks");

        app.MapGet(Routes.Templates.BackupChangedPagesChunks, (HttpContext ctx, string id, string database) =>
            StreamChunksAsync(ctx, 0, request => StreamAsync(ctx, host, sessions, metrics, lifetime, reads, pacing, id, s => s.Backup.OpenChangedPages(database),
                $"the changed pages of database '{database}' (chunks)", request))).WithName("backup-changed-pages-chunks");

        app.MapGet(Routes.Templates.BackupLogChunks, (HttpContext ctx, string id, uint generation) =>
            StreamChunksAsync(ctx, 0, request => StreamAsync(ctx, host, sessions, metrics, lifetime, reads, pacing, id, s => s.Backup.OpenLog(generation),
                $"log generation {generation} (chunks)", request))).WithName("backup-log-chunks");

        app.MapPost(Routes.Templates.BackupKnownChunks, async (HttpContext ctx, string id) =>
        {
            long? length = ctx.Request.ContentLength;
            if (length is null || length % ContentHash.Size != 0 || length > (long)HostedBackup.MaxKnownChunks * ContentHash.Size)
            {
                return Problems.BadRequest($"Send the chunks' SHA-256 hashes as one body of 32 bytes each, with its Content-Length, at most {HostedBackup.MaxKnownChunks} of them.");
            }
            var body = new byte[length.Value];
            await ctx.Request.Body.ReadExactlyAsync(body, ctx.RequestAborted).ConfigureAwait(false);
            return WithSession(host, sessions, id, allowFinished: false, (s, _) => s.AddKnownChunks(body)
                ? Results.NoContent()
                : Problems.Of(StatusCodes.Status413PayloadTooLarge, "Too many hashes", $"Backup {id} would hold more than {HostedBackup.MaxKnownChunks} known chunk hashes: send those of the instance's newest sets only."));
        }).WithName("backup-known-chunks");

        app.MapPost(Routes.Templates.BackupLogs, (string id) =>
            WithSession(host, sessions, id, allowFinished: false, (s, _) =>
            {
                var logs = s.Backup.ListLogs();
                return Results.Json(new BackupLogsInfo
                {
                    GenLow = s.Backup.GenLow,
                    GenHigh = s.Backup.GenHigh ?? 0,
                    LogsCover = s.Backup.LogsCover ?? DateTime.UtcNow,
                    Generations = logs.Select(l => new BackupLogInfo { Generation = l.Generation, File = l.FileName, Size = l.Size }).ToList(),
                }, ProtocolJson.Default.BackupLogsInfo);
            })).WithName("backup-logs");

        app.MapGet(Routes.Templates.BackupLog, (HttpContext ctx, string id, uint generation) =>
            StreamAsync(ctx, host, sessions, metrics, lifetime, reads, pacing, id, s => s.Backup.OpenLog(generation), $"log generation {generation}")).WithName("backup-log");

        // Waits a bounded while for the digest (taken at low priority once the logs are listed): 202 and ready=false
        // if it is not done yet, so that the client asks again and renews its lease on the way.
        app.MapGet(Routes.Templates.BackupDigest, async (HttpContext ctx, string id) =>
        {
            var s = sessions.Find(id);
            if (s is null || s.IsFinished || s.Backup.Digest is not { } digest)
            {
                return s is not null && !s.IsFinished
                    ? Problems.Of(StatusCodes.Status409Conflict, "No digest", $"Backup {id} has no digest: ask for one when beginning it (\"digest\": true), and list the logs first (the digest is taken at the end of the log range).")
                    : WithSession(host, sessions, id, allowFinished: false, (_, _) => Results.NoContent());
            }
            List<Storage.Diagnostics.TableDigest> tables;
            try
            {
                tables = await digest.WaitAsync(DigestWait, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return Results.Json(new BackupDigestInfo { Ready = false }, ProtocolJson.Default.BackupDigestInfo, statusCode: StatusCodes.Status202Accepted);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ctx.RequestAborted.IsCancellationRequested)
            {
                return Problems.Of(StatusCodes.Status500InternalServerError, "Digest failed", $"The digest of backup {id}'s tables failed: {ex.Message}. Abort the backup and begin it again.");
            }
            return Results.Json(new BackupDigestInfo
            {
                Ready = true,
                Tables = tables.Select(t => new TableDigestInfo { Database = t.Database, Table = t.Table, Rows = t.Rows, Sha256 = t.Sha256 }).ToList(),
            }, ProtocolJson.Default.BackupDigestInfo);
        }).WithName("backup-digest");

        app.MapPost(Routes.Templates.BackupTruncate, (string id) =>
            WithSession(host, sessions, id, allowFinished: false, (s, _) =>
                Results.Json(new TruncateResponse { Deleted = s.Backup.Truncate().ToList() }, ProtocolJson.Default.TruncateResponse))).WithName("backup-truncate");

        app.MapPost(Routes.Templates.BackupEnd, (string id) =>
            WithSession(host, sessions, id, allowFinished: true, (s, _) =>
            {
                if (s.Backup.State == BackupState.Aborted)
                {
                    return Problems.Of(StatusCodes.Status409Conflict, "Backup aborted", $"Backup {id} was aborted ({s.AbortReason ?? "by its client"}); it cannot end successfully. Begin a new one.");
                }
                s.Backup.End();
                return Results.NoContent();
            })).WithName("backup-end");

        app.MapDelete(Routes.Templates.Backup, (string id) =>
        {
            sessions.AbortByClient(id); // its begin may be on its way still
            return Results.NoContent(); // idempotent: aborting twice, or an unknown session, is not an error
        }).WithName("backup-abort");
    }

    private static async Task StreamChunksAsync(HttpContext ctx, long offset, Func<ChunkFrames.Request, Task> stream)
    {
        if (ChunkFrames.Parse(ctx.Request.Query, offset, out var problem) is not { } request)
        {
            await Problems.BadRequest(problem!).ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }
        await stream(request).ConfigureAwait(false);
    }

    private static IResult WithSession(InstanceHost host, BackupSessions sessions, string id, bool allowFinished, Func<HostedBackup, StorageInstance, IResult> body)
    {
        var s = sessions.Find(id);
        if (s is null)
        {
            return Problems.NotFound($"There is no backup session '{id}' on this server (it never existed, or ended long ago). Begin one with POST /v1/instances/{{instance}}/backups.");
        }
        if (s.IsFinished && !allowFinished)
        {
            return Problems.Of(StatusCodes.Status409Conflict, "Backup finished",
                s.Backup.State == BackupState.Aborted
                    ? $"Backup {id} was aborted ({s.AbortReason ?? "by its client"}). Begin a new one."
                    : $"Backup {id} has ended. Begin a new one.");
        }
        var inst = host.Find(s.Backup.InstanceName);
        if (inst is null)
        {
            return Problems.NotFound($"Instance '{s.Backup.InstanceName}' of backup {id} is no longer served.");
        }
        return Guard(() => body(s, inst));
    }

    private static IResult Guard(Func<IResult> body)
    {
        try
        {
            return body();
        }
        catch (BackupRefusedException ex)
        {
            return Problems.Of(StatusCodes.Status409Conflict, "Backup refused", ex.Message);
        }
        catch (BackupSequenceException ex)
        {
            return Problems.Of(StatusCodes.Status409Conflict, "Out of order", ex.Message);
        }
        catch (Exception ex) when (ex is StorageException or IOException)
        {
            // A disk error too (a page the begin reads failed): an answer naming the file, not a bare 500.
            return Problems.FromException(ex);
        }
    }

    /// <summary>Streams an image or a generation, read on the background-priority threads and paced while the
    /// instance's clients are busy (<see cref="BackupPacing"/>): as it is (<paramref name="chunks"/> null), or cut into
    /// chunk frames, hashed and compressed (<see cref="ChunkFrames"/>). If the client goes away mid-stream, the session
    /// is aborted at once (the server then accepts a new backup); if reading fails mid-stream, the connection is cut
    /// (the client sees a short body) and the session records the error.</summary>
    private static async Task StreamAsync(HttpContext ctx, InstanceHost host, BackupSessions sessions, ServerMetrics metrics,
        IHostApplicationLifetime lifetime, BackgroundPriority reads, BackupPacing pacing, string id, Func<HostedBackup, Stream> open, string what, ChunkFrames.Request? chunks = null)
    {
        Stream source;
        HostedBackup session;
        {
            var s = sessions.Find(id);
            IResult? refusal = null;
            Stream? opened = null;
            if (s is null || s.IsFinished)
            {
                refusal = WithSession(host, sessions, id, allowFinished: false, (_, _) => Results.NoContent());
            }
            else
            {
                refusal = Guard(() =>
                {
                    opened = open(s);
                    return Results.Empty;
                });
                if (opened is not null)
                {
                    refusal = null;
                }
            }
            if (refusal is not null)
            {
                await refusal.ExecuteAsync(ctx).ConfigureAwait(false);
                return;
            }
            source = opened!;
            session = s!;
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
        async Task Sent(int raw)
        {
            metrics.BackupBytes(raw);
            session.Sent(raw);
            session.Lease.Renew();
            await pacing.PaceAsync(raw, cts.Token).ConfigureAwait(false); // the instance's clients come first
        }
        try
        {
            ctx.Response.ContentType = "application/octet-stream";
            if (chunks is null)
            {
                ctx.Response.ContentLength = source.Length;
                await CopyRawAsync(source, ctx.Response.BodyWriter, reads, Sent, cts.Token).ConfigureAwait(false);
            }
            else
            {
                await ChunkFrames.SendAsync(source, chunks, session.KnownChunks, ctx.Response, reads, Sent, n => session.Sent(n), cts.Token).ConfigureAwait(false);
            }
        }
        catch (SourceReadException ex)
        {
            // (Reading the disk, not the network: an I/O error here is the disk's, as a failed page read is.)
            sessions.StreamFailed(session, what, ex.InnerException!);
            if (!ctx.Response.HasStarted)
            {
                // Nothing has gone yet: the answer is the error itself, with its own length (the image's
                // Content-Length set above would make Kestrel cut the problem short).
                ctx.Response.Clear();
                await Problems.FromException(ex.InnerException!).ExecuteAsync(ctx).ConfigureAwait(false);
            }
            else
            {
                ctx.Abort(); // the client sees a short body (or missing frames) and asks the session why
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
        {
            sessions.Abort(session, ctx.RequestAborted.IsCancellationRequested
                ? $"the client went away while receiving {what}"
                : $"the server stopped while sending {what}");
            ctx.Abort();
        }
        finally
        {
            await source.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The stream as it is, straight into the response pipe's memory (pages are read and checked there): no
    /// copy between the engine and Kestrel. The first read runs before the headers go, so a failure there is still a
    /// 4xx/5xx.</summary>
    private static async Task CopyRawAsync(Stream source, System.IO.Pipelines.PipeWriter body, BackgroundPriority reads, Func<int, Task> sent, CancellationToken ct)
    {
        long total = 0;
        // Stop at the announced length without asking the source again: a session aborted just after the last byte
        // went would otherwise fail that read and cut a connection whose response is whole, which the client may
        // already have handed to another request (a writer sharing its connection pool saw "response ended").
        while (total < source.Length)
        {
            var memory = body.GetMemory(CopyBuffer);
            // Reading and checking pages is the backup's work on the server: at background priority.
            int n = await ReadSourceAsync(reads, () => source.Read(memory.Span), ct).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            body.Advance(n);
            total += n;
            var flushed = await body.FlushAsync(ct).ConfigureAwait(false);
            if (flushed.IsCanceled || flushed.IsCompleted)
            {
                throw new IOException("the response stream ended");
            }
            await sent(n).ConfigureAwait(false);
        }
    }

    /// <summary>Runs a read of the source on the background threads; a disk's failure comes out as a
    /// <see cref="SourceReadException"/>, apart from the network's.</summary>
    internal static async Task<T> ReadSourceAsync<T>(BackgroundPriority reads, Func<T> read, CancellationToken ct)
    {
        try
        {
            return await reads.Run(read, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StorageException || (ex is IOException && !ct.IsCancellationRequested))
        {
            throw new SourceReadException(ex);
        }
    }

    /// <summary>Reading the backup's source (the disk) failed: what the session records and the client is told.</summary>
    internal sealed class SourceReadException(Exception inner) : Exception(inner.Message, inner);
}
