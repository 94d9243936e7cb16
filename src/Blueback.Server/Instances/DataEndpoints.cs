using System.Text;
using System.Text.Json;
using Blueback.Protocol;
using Blueback.Server.Http;
using Blueback.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Blueback.Server.Instances;

/// <summary>The data API: put, get, delete, range scan, atomic batches.</summary>
internal static class DataEndpoints
{
    public static void Map(IEndpointRouteBuilder app, InstanceHost host, IHostApplicationLifetime lifetime, long maxBatchBodyBytes)
    {
        app.MapPut(Routes.Templates.Key, (HttpContext ctx, string instance, string database, string table) =>
            Guard(ctx, lifetime, ct => PutAsync(ctx, host, instance, database, table, ct))).WithName("put");
        app.MapGet(Routes.Templates.Key, (HttpContext ctx, string instance, string database, string table) =>
            Guard(ctx, lifetime, _ => Task.FromResult(Get(ctx, host, instance, database, table)))).WithName("get");
        app.MapDelete(Routes.Templates.Key, (HttpContext ctx, string instance, string database, string table) =>
            Guard(ctx, lifetime, ct => DeleteAsync(ctx, host, instance, database, table, ct))).WithName("delete");
        app.MapGet(Routes.Templates.Keys, (HttpContext ctx, string instance, string database, string table) =>
            Guard(ctx, lifetime, _ => Task.FromResult(Scan(ctx, host, instance, database, table)))).WithName("scan");
        app.MapPost(Routes.Templates.Batch, (HttpContext ctx, string instance) =>
            Guard(ctx, lifetime, ct => BatchAsync(ctx, host, instance, maxBatchBodyBytes, ct))).WithName("batch");
    }

    /// <summary>Runs a handler with a token that fires when the client goes or the server stops, and turns
    /// engine errors into problem responses.</summary>
    private static async Task<IResult> Guard(HttpContext ctx, IHostApplicationLifetime lifetime, Func<CancellationToken, Task<IResult>> handler)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
        try
        {
            return await handler(cts.Token).ConfigureAwait(false);
        }
        catch (BadHttpRequestException bad)
        {
            return Problems.Of(bad.StatusCode, "Bad request", bad.Message);
        }
        catch (Exception ex) when (ex is IOException && !cts.IsCancellationRequested)
        {
            return Problems.BadRequest($"The request body ended early or could not be read: {ex.Message}");
        }
        catch (Exception ex) when (ex is StorageException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            return Problems.FromException(ex);
        }
    }

    private static bool Target(HttpContext ctx, InstanceHost host, string instance, string database, string table,
        out StorageInstance inst, out Database db, out byte[] key, out IResult? error)
    {
        db = null!;
        key = [];
        return Resolve.Instance(host, instance, out inst, out error)
            && Resolve.Database(inst, database, out db, out error)
            && Resolve.Key(ctx, out key, out error);
    }

    private static async Task<IResult> PutAsync(HttpContext ctx, InstanceHost host, string instance, string database, string table, CancellationToken ct)
    {
        if (!Target(ctx, host, instance, database, table, out var inst, out var db, out var key, out var error))
        {
            return error!;
        }
        using var value = await Body.ReadPooledAsync(ctx.Request, Routes.Limits.MaxValueBytes, ct).ConfigureAwait(false);
        if (value.TooBig)
        {
            return Problems.BadRequest($"The value is larger than {Routes.Limits.MaxValueBytes} bytes (16 MiB), the most a key can hold.");
        }
        using var tx = await inst.BeginWriteAsync(ct).ConfigureAwait(false);
        tx.Put(db, table, key, value.Span);
        await tx.CommitAsync(CommitMode.Durable, ct).ConfigureAwait(false);
        return Results.NoContent();
    }

    private static IResult Get(HttpContext ctx, InstanceHost host, string instance, string database, string table)
    {
        if (!Target(ctx, host, instance, database, table, out var inst, out var db, out var key, out var error))
        {
            return error!;
        }
        using var r = inst.BeginRead();
        var value = r.Get(db, table, key);
        return value is null
            ? Problems.NotFound($"Key '{Printable(key)}' is not in table '{table}' of database '{database}'.")
            : Results.Bytes(value, "application/octet-stream");
    }

    private static async Task<IResult> DeleteAsync(HttpContext ctx, InstanceHost host, string instance, string database, string table, CancellationToken ct)
    {
        if (!Target(ctx, host, instance, database, table, out var inst, out var db, out var key, out var error))
        {
            return error!;
        }
        using var tx = await inst.BeginWriteAsync(ct).ConfigureAwait(false);
        bool existed = tx.Delete(db, table, key);
        if (existed)
        {
            await tx.CommitAsync(CommitMode.Durable, ct).ConfigureAwait(false);
        }
        return Results.NoContent();
    }

    private static IResult Scan(HttpContext ctx, InstanceHost host, string instance, string database, string table)
    {
        if (!Resolve.Instance(host, instance, out var inst, out var error) || !Resolve.Database(inst, database, out var db, out error))
        {
            return error!;
        }
        var q = ctx.Request.Query;
        if (!ScanPages.Bound(q, "from", out var from, out error) || !ScanPages.Bound(q, "to", out var to, out error)
            || !ScanPages.Limit(q, Routes.Limits.DefaultScanLimit, out int limit, out error))
        {
            return error!;
        }
        bool reverse = false;
        if (q.TryGetValue("reverse", out var rs) && !bool.TryParse(rs, out reverse))
        {
            return Problems.BadRequest("reverse must be true or false.");
        }
        using var r = inst.BeginRead();
        var (items, last) = ScanPages.Take(r.Scan(db, table, from, to, reverse), limit, kv => new ScanItem
        {
            Key = Encoding.UTF8.GetString(kv.Key),
            KeyBase64 = IsUtf8(kv.Key) ? null : Convert.ToBase64String(kv.Key),
            Value = Convert.ToBase64String(kv.Value),
        });
        var response = new ScanResponse { Items = items };
        if (last is not null)
        {
            // Forward: the next page starts just after the last key (from is inclusive). Reverse: below it (to is exclusive).
            response.Next = reverse
                ? new ScanCursor { From = ScanPages.Text(from), To = ScanPages.Text(last) }
                : new ScanCursor { From = ScanPages.Text(ScanPages.After(last)), To = ScanPages.Text(to) };
        }
        return Results.Json(response, ProtocolJson.Default.ScanResponse);
    }

    private static async Task<IResult> BatchAsync(HttpContext ctx, InstanceHost host, string instance, long limit, CancellationToken ct)
    {
        if (!Resolve.Instance(host, instance, out var inst, out var error))
        {
            return error!;
        }
        var parsed = new List<(bool Put, Database Db, string Table, byte[] Key, byte[]? Value)>();
        using (var body = await Body.ReadPooledAsync(ctx.Request, limit, ct).ConfigureAwait(false))
        {
            if (body.TooBig)
            {
                return Problems.Of(StatusCodes.Status413PayloadTooLarge, "Too large", $"The batch body is larger than {limit:N0} bytes (the server's limits.maxBatchBodyBytes); split it into smaller batches.");
            }
            if (!BatchParser.TryParse(body.Span, out var ops, out var why))
            {
                return Problems.BadRequest($"The batch is not valid: {why}.");
            }
            if (ops.Count == 0)
            {
                return Problems.BadRequest("The batch has no operations: send {\"ops\":[{\"op\":\"put\",\"database\":...,\"table\":...,\"key\":...,\"value\":...}]}.");
            }
            for (int i = 0; i < ops.Count; i++)
            {
                if (!BatchOps.TryValidate(inst, ops[i], i, out var op, out error))
                {
                    return error!;
                }
                parsed.Add(op);
            }
        }
        using var tx = await inst.BeginWriteAsync(ct).ConfigureAwait(false);
        foreach (var op in parsed)
        {
            if (op.Put)
            {
                tx.Put(op.Db, op.Table, op.Key, op.Value);
            }
            else
            {
                tx.Delete(op.Db, op.Table, op.Key);
            }
        }
        await tx.CommitAsync(CommitMode.Durable, ct).ConfigureAwait(false);
        ctx.Response.Headers[Routes.CommitLsnHeader] = tx.CommitLsn.ToString();
        ctx.Response.Headers[Routes.CommitTimeHeader] = tx.CommitTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        return Results.NoContent();
    }

    private static bool IsUtf8(byte[] b) => ScanPages.IsUtf8(b);

    private static string Printable(byte[] key) => IsUtf8(key) ? Encoding.UTF8.GetString(key) : "base64:" + Convert.ToBase64String(key);
}
