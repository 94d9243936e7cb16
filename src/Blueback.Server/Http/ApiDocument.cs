using System.Reflection;
using Blueback.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace Blueback.Server.Http;

/// <summary>The OpenAPI document of the HTTP API, at <see cref="Route"/>: every route with its summary, its request
/// and response bodies (the DTOs of Blueback.Protocol), the bearer scheme and role each needs, and the error shape
/// (application/problem+json, <see cref="Problem"/>). The endpoints stay plain: what the document says of each is
/// here, keyed by the endpoint's name, and added to every endpoint mapped through the group <see cref="Describe"/>
/// is given. It needs no token: it describes routes, it reveals no data (like /healthz).</summary>
internal static class ApiDocument
{
    public const string Route = "/openapi/v1.json";
    public const string BearerScheme = "bearer";
    private const string Json = "application/json";
    private const string Bytes = "application/octet-stream";

    private sealed record Param(string Name, string Description, bool InHeader = false, bool Required = false);

    private sealed record Op(string Tag, string Summary, int Status = StatusCodes.Status200OK, Type? Response = null, Type? Request = null,
        int[]? Errors = null, Param[]? Params = null, string? Description = null)
    {
        public string ResponseType { get; init; } = Json;
        public string RequestType { get; init; } = Json;
        public (int Status, Type Type)[] AlsoReturns { get; init; } = [];
    }

    /// <summary>An endpoint's request body, for the document only.</summary>
    private sealed record RequestBody(Type Type, string ContentType);

    private static readonly Param[] Upload =
    [
        new("Content-Length", "The file's length: required (411 without it), except for a chunk-frame upload.", InHeader: true, Required: true),
        new(Routes.Sha256Header, "SHA-256 (lowercase hex) of the file's bytes, checked before the file counts as written (422 if wrong); with Blueback-Chunk-Sizes, the chunk digest.", InHeader: true, Required: true),
        new(Routes.ChunkSizesHeader, "With a repository-format-2 file: its chunks' sizes (the SHA-256 header then carries the chunk digest).", InHeader: true),
        new(Routes.UploadEncodingHeader, "'chunk-frames': the body is the file's chunks as chunk frames (56-byte header: kind, codec none or zstd, sizes, payload CRC32C, content SHA-256; then the payload), one per chunk of Blueback-Chunk-Sizes, which it then requires; each is checked and decompressed by the server (422 naming the chunk if wrong). Offered when the session's uploadEncodings lists it.", InHeader: true),
    ];

    /// <summary>Every endpoint, by name. A route mapped without an entry here is served but undescribed, and
    /// OpenApiTests fails.</summary>
    private static readonly Dictionary<string, Op> Ops = new(StringComparer.Ordinal)
    {
        ["health"] = new("status", "Liveness: 200 'ok' while the server runs (no token).") { ResponseType = "text/plain" },
        ["status"] = new("status", "The instances (online, restoring, offline), their databases, log generations, checkpoint and last backups.", Response: typeof(StatusResponse)),
        ["put"] = new("data", "Write a key: the body is the value (any bytes, up to 16 MiB); creates the table. 204 once durable.", StatusCodes.Status204NoContent, Request: typeof(Stream), Errors: [400, 404, 503],
            Description: $"The key is percent-encoded in the path (any bytes but %00). The answer's {Routes.CommitLsnHeader} and {Routes.CommitTimeHeader} headers are stop points that restore exactly up to this write.") { RequestType = Bytes },
        ["get"] = new("data", "Read a key's value.", Response: typeof(Stream), Errors: [400, 404, 503]) { ResponseType = Bytes },
        ["delete"] = new("data", "Delete a key (204 also when it was absent). 204 once durable.", StatusCodes.Status204NoContent, Errors: [400, 404, 503]),
        ["scan"] = new("data", "An ordered range scan, one page: from inclusive, to exclusive; pass next's bounds for the next page.", Response: typeof(ScanResponse), Errors: [400, 404, 503],
            Params: [new("from", "First key (inclusive); 'base64:...' for keys that are not UTF-8."), new("to", "End key (exclusive)."), new("limit", "1 to 1000 (default 100)."), new("reverse", "true: descending.")]),
        ["batch"] = new("data", "An atomic transaction of puts and deletes across the tables and databases of one instance. 204 once durable.", StatusCodes.Status204NoContent, Request: typeof(BatchRequest), Errors: [400, 404, 413, 503]),

        ["backup-begin"] = new("backup", "Begin a backup session of an instance (full, incremental, differential, copy).", StatusCodes.Status201Created, typeof(BackupSessionInfo), typeof(BeginBackupRequest), [400, 404, 409, 503]),
        ["backup-list"] = new("backup", "The backup sessions running.", Response: typeof(BackupSessionList)),
        ["backup-get"] = new("backup", "A backup session's state.", Response: typeof(BackupSessionInfo), Errors: [404]),
        ["backup-image"] = new("backup", "Stream a database's image (or the byte range offset+length of it), pages checked as they are read.", Response: typeof(Stream), Errors: [404, 409, 500]) { ResponseType = Bytes },
        ["backup-changed-pages"] = new("backup", "Stream the pages of a database changed since the previous backup (a changed-pages backup).", Response: typeof(Stream), Errors: [404, 409, 500]) { ResponseType = Bytes },
        ["backup-image-chunks"] = new("backup", "Stream bytes offset+length of a database's image as chunk frames: cut into the repository's chunks (chunk, cuts), each hashed (SHA-256) and compressed (codec: zstd-N or none) on the server, pages checked as they are read; a chunk whose hash was sent as known comes without its payload.", Response: typeof(Stream), Errors: [400, 404, 409, 500]) { ResponseType = Bytes },
        ["backup-changed-pages-chunks"] = new("backup", "Stream the changed pages of a database as chunk frames (see backup-image-chunks).", Response: typeof(Stream), Errors: [400, 404, 409, 500]) { ResponseType = Bytes },
        ["backup-log-chunks"] = new("backup", "Stream one log generation as chunk frames (see backup-image-chunks).", Response: typeof(Stream), Errors: [400, 404, 409, 500]) { ResponseType = Bytes },
        ["backup-known-chunks"] = new("backup", "Send the SHA-256 hashes (32 bytes each) of chunks the program's repository holds: chunk frames of this session leave their payloads out.", StatusCodes.Status204NoContent, Errors: [400, 404, 409, 413]),
        ["backup-logs"] = new("backup", "Close the current log generation and list the generations the backup must copy.", Response: typeof(BackupLogsInfo), Errors: [404, 409]),
        ["backup-log"] = new("backup", "Stream one log generation.", Response: typeof(Stream), Errors: [404, 409, 500]) { ResponseType = Bytes },
        ["backup-digest"] = new("backup", "The digest of the instance's tables at the backup's end (202 while it is being taken).", Response: typeof(BackupDigestInfo), Errors: [404, 409, 500]) { AlsoReturns = [(StatusCodes.Status202Accepted, typeof(BackupDigestInfo))] },
        ["backup-truncate"] = new("backup", "Delete the log generations this backup made safe (full and incremental backups).", Response: typeof(TruncateResponse), Errors: [404, 409]),
        ["backup-end"] = new("backup", "End the backup session successfully (the instance records it).", StatusCodes.Status204NoContent, Errors: [404, 409]),
        ["backup-abort"] = new("backup", "Abort a backup session (idempotent).", StatusCodes.Status204NoContent),

        ["backup-ship-claim"] = new("shipping", "Claim the shipping of an instance's log generations (a lease for one shipper).", Response: typeof(ShippingClaimResponse), Request: typeof(ShippingClaimRequest), Errors: [400, 404, 409]),
        ["backup-ship-ready"] = new("shipping", "Wait (bounded) for a closed generation after 'after', closing the current one once its oldest commit is rollAfterMs old.", Response: typeof(ShippingReady), Errors: [400, 404, 409, 503]),
        ["backup-ship-log"] = new("shipping", "Stream one closed log generation to the shipper.", Response: typeof(Stream), Errors: [404, 409]) { ResponseType = Bytes },
        ["backup-ship-log-chunks"] = new("shipping", "Stream one closed log generation as chunk frames, compressed on the server (chunk, codec; see backup-image-chunks).", Response: typeof(Stream), Errors: [400, 404, 409]) { ResponseType = Bytes },
        ["backup-ship-ack"] = new("shipping", "Acknowledge generations stored in the shipping repository (the server may then delete them).", Response: typeof(ShippingAckResponse), Request: typeof(ShippingAckRequest), Errors: [400, 404, 409]),
        ["backup-ship-release"] = new("shipping", "Release the shipper's lease (idempotent; the shipping mark stays).", StatusCodes.Status204NoContent),
        ["shipping-disable"] = new("shipping", "Stop shipping an instance: forget its mark, so that logs are no longer kept for a shipper.", StatusCodes.Status204NoContent, Errors: [404, 409]),
        ["backup-standby-page"] = new("shipping", "A warm standby's image of one page (page size bytes) with the log position it had applied through and the signatures of its log stream and database (headers Blueback-Applied-Through, Blueback-Log-Signature, Blueback-Database-Signature): a primary repairs a damaged page from it.", Response: typeof(Stream), Errors: [400, 404, 409, 503]) { ResponseType = Bytes },
        ["standby-promote"] = new("shipping", "Promote a warm standby: apply what is shipped (down to stop, when given), then take writes.", Response: typeof(PromoteResponse), Errors: [400, 409, 503],
            Params: [new("stop", "Apply only the commits at or before this time (ISO 8601) or log position (GEN:OFFSET): the way back from a bad write on a lagged standby.")]),

        ["restore-begin"] = new("restore", "Begin a restore session into a new instance or in place of one (which goes offline).", StatusCodes.Status201Created, typeof(RestoreSessionInfo), typeof(BeginRestoreRequest), [400, 404, 409]),
        ["restores-list"] = new("restore", "The restore sessions running.", Response: typeof(RestoreSessionList)),
        ["restore-get"] = new("restore", "A restore session's state, phase, error and result.", Response: typeof(RestoreSessionInfo), Errors: [404]),
        ["restore-image"] = new("restore", "Upload one database image. 204 once flushed and checked.", StatusCodes.Status204NoContent, Request: typeof(Stream), Errors: [400, 404, 409, 411, 413, 422, 503], Params: Upload) { RequestType = Bytes },
        ["restore-changed-pages"] = new("restore", "Upload the changed pages of one database (of a changed-pages backup).", StatusCodes.Status204NoContent, Request: typeof(Stream), Errors: [400, 404, 409, 411, 413, 422, 503], Params: Upload) { RequestType = Bytes },
        ["restore-log"] = new("restore", "Upload one log generation.", StatusCodes.Status204NoContent, Request: typeof(Stream), Errors: [400, 404, 409, 411, 413, 422, 503], Params: Upload) { RequestType = Bytes },
        ["restore-recover"] = new("restore", "Start hard recovery in the background; poll the session.", StatusCodes.Status202Accepted, typeof(RestoreSessionInfo), Errors: [404, 409]),
        ["restore-abort"] = new("restore", "Abort a restore session (idempotent).", StatusCodes.Status204NoContent),

        ["restore-load-begin"] = new("restore", "Begin a staged load (a granular restore): rows staged on the server, then committed in one transaction, replacing a table, a key range or a database's tables, or into a new table.", StatusCodes.Status201Created, typeof(LoadInfo), typeof(BeginLoadRequest), [400, 404, 409, 503]),
        ["restore-load-get"] = new("restore", "A load's scope, rows staged and state.", Response: typeof(LoadInfo), Errors: [404]),
        ["restore-load-rows"] = new("restore", "Stage more rows: [u16 table length][table][u16 key length][key][u32 value length][value], little-endian, back to back; a post with one bad row stages nothing.", Response: typeof(LoadInfo), Request: typeof(Stream), Errors: [400, 404, 409, 413]) { RequestType = Bytes },
        ["restore-load-commit"] = new("restore", "Apply every staged row in one transaction (replace: the scope's live keys are deleted first); the load then ends.", Response: typeof(LoadCommitResponse), Errors: [400, 404, 409, 413, 503],
            Description: $"The answer's {Routes.CommitLsnHeader} and {Routes.CommitTimeHeader} headers give where the commit lies."),
        ["restore-load-abort"] = new("restore", "Abort a load, dropping its staged rows (idempotent).", StatusCodes.Status204NoContent),

        ["token-create"] = new("tokens", "Create a token with a role; the answer carries the token, once.", StatusCodes.Status201Created, typeof(TokenInfo), typeof(CreateTokenRequest), [400]),
        ["token-list"] = new("tokens", "The tokens: ids, names, roles, times (never the secrets).", Response: typeof(List<TokenInfo>)),
        ["token-revoke"] = new("tokens", "Revoke a token: its next call is a 401.", StatusCodes.Status204NoContent, Errors: [404]),

        ["policy-list"] = new("policies", "The backup policies the server runs, with their state.", Response: typeof(PolicyList)),
        ["policy-get"] = new("policies", "One policy: its definition, state, sets and shipper.", Response: typeof(PolicyInfo), Errors: [404]),
        ["policy-put"] = new("policies", "Create or replace a policy.", Response: typeof(PolicyInfo), Request: typeof(PolicyDefinition), Errors: [400, 409]),
        ["policy-delete"] = new("policies", "Remove a policy (its repository stays).", StatusCodes.Status204NoContent, Errors: [404, 409]),
        ["policy-history"] = new("policies", "The policy's recent jobs, newest first (limit, default 50).", Response: typeof(PolicyHistory), Errors: [400, 404]),
        ["policy-run"] = new("policies", "Run a job of the policy now (kind: full, incremental, differential, prove, verify, restore; set: the set to prove, verify or restore as a new instance).", StatusCodes.Status202Accepted, typeof(PolicyJobInfo), Errors: [400, 404, 409]),
        ["policy-set"] = new("policies", "One set of the policy's repository (its id, or a unique prefix of 8 or more): its files, with their sizes and chunks.", Response: typeof(PolicySetFiles), Errors: [400, 404, 502, 504]),
        ["policy-browse"] = new("policies", "Open a set of the policy's repository for browsing, read-only and without restoring it (mounted: pages fetched as reads need them, kept open while in use and closed when idle): its databases and tables as of the set, with row counts where the backup recorded a digest.", Response: typeof(SetBrowse), Errors: [400, 404, 409, 502, 503, 504]),
        ["policy-browse-table"] = new("policies", "One page of a table of a set opened for browsing, in key order: keys and values as of the set, each value as text when UTF-8 and as hex otherwise, cut at 256 bytes.", Response: typeof(BrowseRows), Errors: [400, 404, 409, 502, 503, 504],
            Params: [new("from", "First key (inclusive): next of the previous page; 'base64:...' for keys that are not UTF-8."), new("limit", "1 to 1000 (default 50); a page also ends at 4 MiB of keys and values, as a scan's does.")]),
        ["policy-job"] = new("policies", "One job of the policy, running or recent.", Response: typeof(PolicyJobInfo), Errors: [404]),
        ["policy-cancel"] = new("policies", "Stop a running job of the policy (its partial set is removed).", StatusCodes.Status202Accepted, Errors: [404]),

        ["alerts"] = new("console", "What needs attention: failed policies, failed proofs, shipping lag, offline instances, pages repaired or not repairable.", Response: typeof(AlertList)),
        ["alert-history"] = new("console", "The alerts' changes (raised, acknowledged, cleared), newest first; kept across restarts, the newest 1,000 to 2,000.", Response: typeof(AlertHistory), Errors: [400],
            Params: [new("limit", "1 to 1000 (default 100).")]),
        ["alert-ack"] = new("console", "Acknowledge an alert: who (the token's name and id) and when are recorded until it clears.", Response: typeof(AlertInfo), Errors: [404]),
        ["metrics-history"] = new("console", "The server's rates (commits, log bytes, backup bytes) over a range: 1h in 10 s buckets, 24h in 5 min, 7d in 1 h (each a mean).", Response: typeof(MetricsHistory), Errors: [400],
            Params: [new("range", "1h (default), 24h or 7d.")]),
    };

    /// <summary>The OpenAPI services: the document's title, the bearer scheme, each operation's role and the parameters
    /// the endpoints read themselves; /metrics (a middleware endpoint, which the description does not list) added.</summary>
    public static void AddServices(IServiceCollection services) => services.AddOpenApi(o =>
    {
        o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Blueback server",
                Version = typeof(ApiDocument).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "dev",
                Description = "The HTTP API of 'blueback serve' (docs/server.md). Every route but /healthz and this document needs "
                    + "'Authorization: Bearer TOKEN' with the role its operation names; errors are application/problem+json (Problem): "
                    + "401 without a valid token, 403 with the wrong role, and the 4xx or 5xx each operation lists, with a detail that names what is wrong.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "A token 'bbt_ID_SECRET' (blueback token create --role R). Roles: read, write (read and writes), backup, restore, admin (everything).",
            };
            document.Paths ??= new OpenApiPaths();
            if (!document.Paths.ContainsKey(Routes.Metrics))
            {
                var metrics = new OpenApiOperation
                {
                    OperationId = "metrics",
                    Summary = "Prometheus text exposition of the server's metrics (names and types: docs/server.md).",
                    Tags = new HashSet<OpenApiTagReference> { new("status", document) },
                    Responses = new OpenApiResponses
                    {
                        ["200"] = new OpenApiResponse { Description = "OK", Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal) { ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } } } },
                        ["401"] = ProblemResponse("Unauthorized", document),
                        ["403"] = ProblemResponse("Forbidden", document),
                    },
                };
                Secure(metrics, "metrics", document);
                var item = new OpenApiPathItem();
                item.AddOperation(HttpMethod.Get, metrics);
                document.Paths[Routes.Metrics] = item;
            }
            return Task.CompletedTask;
        });
        o.AddOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<IEndpointNameMetadata>().FirstOrDefault()?.EndpointName is not { } name)
            {
                return;
            }
            if (metadata.OfType<RequestBody>().FirstOrDefault() is { } body && context.Document is { } document)
            {
                IOpenApiSchema schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
                if (body.Type != typeof(Stream))
                {
                    document.Components ??= new OpenApiComponents();
                    document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal);
                    if (!document.Components.Schemas.ContainsKey(body.Type.Name))
                    {
                        document.Components.Schemas[body.Type.Name] = await context.GetOrCreateSchemaAsync(body.Type, null, cancellationToken).ConfigureAwait(false);
                    }
                    schema = new OpenApiSchemaReference(body.Type.Name, document);
                }
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal) { [body.ContentType] = new() { Schema = schema } },
                };
            }
            Secure(operation, name, context.Document);
            operation.Parameters ??= [];
            // Route values the handler reads itself (the key of /keys/{*key}) are path parameters all the same.
            foreach (var segment in (context.Description.RelativePath ?? "").Split('/').Where(x => x.StartsWith('{') && x.EndsWith('}')))
            {
                var param = segment.Trim('{', '}', '*').Split(':', '?')[0];
                if (!operation.Parameters.Any(q => q.In == ParameterLocation.Path && q.Name == param))
                {
                    operation.Parameters.Add(new OpenApiParameter { Name = param, In = ParameterLocation.Path, Required = true, Schema = new OpenApiSchema { Type = JsonSchemaType.String } });
                }
            }
            if (Ops.TryGetValue(name, out var op) && op.Params is { } ps)
            {
                foreach (var p in ps.Where(p => !operation.Parameters.Any(q => string.Equals(q.Name, p.Name, StringComparison.OrdinalIgnoreCase))))
                {
                    operation.Parameters.Add(new OpenApiParameter
                    {
                        Name = p.Name,
                        In = p.InHeader ? ParameterLocation.Header : ParameterLocation.Query,
                        Required = p.Required,
                        Description = p.Description,
                        Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                    });
                }
            }
        });
    });

    private static OpenApiResponse ProblemResponse(string description, OpenApiDocument document) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal) { [Problems.ContentType] = new() { Schema = new OpenApiSchemaReference(nameof(Problem), document) } },
    };

    /// <summary>The bearer requirement and the role of a token route; nothing for the routes that need none.</summary>
    private static void Secure(OpenApiOperation operation, string name, OpenApiDocument? document)
    {
        if (!Security.Authentication.NeedsToken(name, out var role))
        {
            return;
        }
        operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] }];
        var who = role is { } r ? $"Needs a token with role '{Security.Roles.Name(r)}'{(r == Security.Role.Read ? " (or 'write')" : "")} or 'admin'." : "Needs a token of any role.";
        operation.Description = operation.Description is { Length: > 0 } d ? $"{who} {d}" : who;
    }

    /// <summary>Adds each endpoint's description (summary, tag, bodies, answers and errors) as it is built; the
    /// console's files (/ui) are left out of the document.</summary>
    public static void Describe(IEndpointConventionBuilder group) => group.Finally(b =>
    {
        var name = b.Metadata.OfType<IEndpointNameMetadata>().FirstOrDefault()?.EndpointName;
        if (name == "ui")
        {
            b.Metadata.Add(new ExcludeFromDescriptionAttribute());
            return;
        }
        if (name is null || !Ops.TryGetValue(name, out var op))
        {
            return;
        }
        b.Metadata.Add(new TagsAttribute(op.Tag));
        b.Metadata.Add(new EndpointSummaryAttribute(op.Summary));
        if (op.Description is { } d)
        {
            b.Metadata.Add(new EndpointDescriptionAttribute(d));
        }
        if (op.Request is { } req)
        {
            // Not AcceptsMetadata: routing would then refuse a request whose Content-Type differs (curl's default
            // form type on a PUT of a value, say), and the server takes bodies whatever their type says.
            b.Metadata.Add(new RequestBody(req, op.RequestType));
        }
        b.Metadata.Add(new ProducesResponseTypeMetadata(op.Status, op.Response ?? typeof(void), op.Response is null ? null : [op.ResponseType]));
        foreach (var (status, type) in op.AlsoReturns)
        {
            b.Metadata.Add(new ProducesResponseTypeMetadata(status, type, [Json]));
        }
        var errors = (op.Errors ?? []).AsEnumerable();
        if (Security.Authentication.NeedsToken(name, out _))
        {
            errors = errors.Append(StatusCodes.Status401Unauthorized).Append(StatusCodes.Status403Forbidden);
        }
        foreach (var status in errors.Distinct().Order())
        {
            b.Metadata.Add(new ProducesResponseTypeMetadata(status, typeof(Problem), [Problems.ContentType]));
        }
    });

    /// <summary>Serves the document (no token: see the class).</summary>
    public static void Map(IEndpointRouteBuilder app) => app.MapOpenApi(Route).WithName("openapi");
}
