using System.Text;
using Blueback.Protocol;
using Blueback.Server.Http;
using Blueback.Server.Instances;
using Blueback.Server.Policies;
using Blueback.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Blueback.Server.Browsing;

/// <summary>The console's view of a backup set without restoring it: its databases and tables, and a table's keys and
/// values a page at a time, read from the set mounted read-only (<see cref="SetBrowser"/>). Role read: values are data.</summary>
internal static class BrowseEndpoints
{
    /// <summary>Rows a page holds unless the query's limit says otherwise: a screenful.</summary>
    public const int DefaultLimit = 50;

    public static void Map(IEndpointRouteBuilder app, PolicyRunner runner, SetBrowser browser, IHostApplicationLifetime lifetime)
    {
        app.MapGet(Routes.Templates.PolicySetBrowse, (HttpContext ctx, string name, string id) =>
            WithSetAsync(ctx, runner, browser, lifetime, name, id, Tables)).WithName("policy-browse");
        app.MapGet(Routes.Templates.PolicySetBrowseTable, (HttpContext ctx, string name, string id, string database, string table) =>
            WithSetAsync(ctx, runner, browser, lifetime, name, id, (p, set) => Rows(ctx, p, set, database, table))).WithName("policy-browse-table");
    }

    /// <summary>Opens (or finds open) the set, runs <paramref name="read"/> on it while holding it, and turns what went
    /// wrong into a problem that names the set and what to do.</summary>
    private static async Task<IResult> WithSetAsync(HttpContext ctx, PolicyRunner runner, SetBrowser browser, IHostApplicationLifetime lifetime,
        string name, string id, Func<PolicyDefinition, BrowsedSet, IResult> read)
    {
        if (runner.DefinitionOf(name) is not { } p)
        {
            return PolicyEndpoints.NoPolicy(name);
        }
        if (PolicyEndpoints.BadSetId(id) is { } bad)
        {
            return bad;
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, lifetime.ApplicationStopping);
        cts.CancelAfter(SetBrowser.OpenBound + TimeSpan.FromSeconds(30)); // the listing that resolves the id, then the mount
        try
        {
            using var lease = await browser.AcquireAsync(p, id, cts.Token).ConfigureAwait(false);
            return read(p, lease.Value);
        }
        catch (Exception ex) when (PolicyEndpoints.SetProblem(ex, p, id, ctx.RequestAborted, $"did not let set '{id}' be mounted within {SetBrowser.OpenBound.TotalSeconds:0} s") is { } problem)
        {
            return problem;
        }
        catch (Backup.RestorePlanException ex)
        {
            return Problems.Of(StatusCodes.Status409Conflict, "Set not browsable", $"Set '{id}' of policy '{name}' cannot be browsed: {ex.Message}");
        }
        catch (ObjectDisposedException) when (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Problems.Of(StatusCodes.Status503ServiceUnavailable, "Server stopping", $"The server is stopping and has closed set '{id}' of policy '{name}'; browse it again once the server is back.");
        }
        catch (TimeoutException ex)
        {
            return Problems.Of(StatusCodes.Status504GatewayTimeout, "Repository slow", ex.Message);
        }
        catch (Exception ex) when (ex is StorageException or IOException)
        {
            return Problems.Of(StatusCodes.Status502BadGateway, "Set not mountable", $"Set '{id}' of policy '{name}' could not be mounted or read from '{p.Repository.Location}': {ex.Message} Run 'blueback verify --repo {p.Repository.Location} --set {id}' to find what is damaged.");
        }
    }

    private static IResult Tables(PolicyDefinition p, BrowsedSet set)
    {
        var digests = set.Set.TableDigests ?? [];
        using var r = set.Instance.BeginRead();
        var browse = new SetBrowse
        {
            Set = set.Set.SetId,
            Instance = set.Instance.Name,
            Describe = set.Describe,
            Ended = set.Set.Ended,
            LastCommit = set.LastCommit,
            Databases = set.Instance.Databases.OrderBy(d => d.Name, StringComparer.Ordinal).Select(d => new BrowseDatabase
            {
                Name = d.Name,
                Tables = r.Tables(d).Select(t => new BrowseTable { Name = t, Rows = digests.FirstOrDefault(x => x.Database == d.Name && x.Table == t)?.Rows }).ToList(),
            }).ToList(),
        };
        return Results.Json(browse, ProtocolJson.Default.SetBrowse);
    }

    private static IResult Rows(HttpContext ctx, PolicyDefinition p, BrowsedSet set, string database, string table)
    {
        var inst = set.Instance;
        if (inst.TryGetDatabase(database) is not { } db)
        {
            return Problems.NotFound($"Set {set.Set.SetId} of policy '{p.Name}' has no database '{database}'. It has: {string.Join(", ", inst.Databases.Select(d => d.Name))}.");
        }
        var q = ctx.Request.Query;
        if (!ScanPages.Bound(q, "from", out var from, out var error) || !ScanPages.Limit(q, DefaultLimit, out int limit, out error))
        {
            return error!;
        }
        using var r = inst.BeginRead();
        if (!r.TableExists(db, table))
        {
            return Problems.NotFound($"Database '{database}' of set {set.Set.SetId} (policy '{p.Name}') has no table '{table}'. It has: {string.Join(", ", r.Tables(db))}.");
        }
        var (items, last) = ScanPages.Take(r.Scan(db, table, from), limit, kv => Row(kv.Key, kv.Value));
        return Results.Json(new BrowseRows
        {
            Set = set.Set.SetId,
            Database = database,
            Table = table,
            Items = items,
            Next = last is null ? null : ScanPages.Text(ScanPages.After(last)),
        }, ProtocolJson.Default.BrowseRows);
    }

    /// <summary>A row for display: the value's first <see cref="BrowseRow.MaxShownBytes"/> bytes as text when the value
    /// is UTF-8 (cut before a character, not inside one), as hex otherwise.</summary>
    internal static BrowseRow Row(byte[] key, byte[] value)
    {
        int n = Math.Min(value.Length, BrowseRow.MaxShownBytes);
        bool text = ScanPages.IsUtf8(value);
        if (text)
        {
            while (n > 0 && n < value.Length && (value[n] & 0xC0) == 0x80)
            {
                n--; // value[n] continues a character begun before the cut
            }
        }
        return new BrowseRow
        {
            Key = Encoding.UTF8.GetString(key),
            KeyBase64 = ScanPages.IsUtf8(key) ? null : Convert.ToBase64String(key),
            Value = text ? Encoding.UTF8.GetString(value, 0, n) : Convert.ToHexStringLower(value, 0, n),
            Encoding = text ? "utf8" : "hex",
            Bytes = value.Length,
            Truncated = n < value.Length,
        };
    }
}
