using System.Text.Json;
using Blueback.Protocol;
using Blueback.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Policies;

/// <summary>The policies' routes: list and show (any token), history and a job's state, run-now and cancel, and
/// setting or removing a policy (admin).</summary>
internal static class PolicyEndpoints
{
    private static readonly TimeSpan SetReadBound = TimeSpan.FromSeconds(60);
    private static readonly PolicyJobKind[] Kinds = [PolicyJobKind.Full, PolicyJobKind.Incremental, PolicyJobKind.Differential, PolicyJobKind.Prove, PolicyJobKind.Verify, PolicyJobKind.Restore];

    public static void Map(IEndpointRouteBuilder app, PolicyRunner runner)
    {
        app.MapGet(Routes.Policies, () => Results.Json(new PolicyList { Policies = runner.List() }, ProtocolJson.Default.PolicyList)).WithName("policy-list");

        app.MapGet(Routes.Templates.Policy, (string name) =>
            runner.Find(name) is { } p ? Results.Json(p, ProtocolJson.Default.PolicyInfo) : NoPolicy(name)).WithName("policy-get");

        app.MapGet(Routes.Templates.PolicyHistory, (string name, int? limit) =>
        {
            if (!runner.Exists(name))
            {
                return NoPolicy(name);
            }
            if (limit is < 1 or > 1000)
            {
                return Problems.BadRequest($"limit={limit}: give 1 to 1000 jobs.");
            }
            return Results.Json(new PolicyHistory { Jobs = runner.History(name, limit ?? 50) }, ProtocolJson.Default.PolicyHistory);
        }).WithName("policy-history");

        app.MapPost(Routes.Templates.PolicyRun, (string name, string? kind, string? set) =>
        {
            if (!runner.Exists(name))
            {
                return NoPolicy(name);
            }
            var job = PolicyJobKind.Full;
            if (kind is not null && (!PolicyJobNames.TryParse(kind, out job) || !Kinds.Contains(job)))
            {
                return Problems.BadRequest($"kind={kind} is not one of {string.Join(", ", Kinds.Select(k => k.WireName()))}.");
            }
            if (set is not null && (!job.ActsOnSet() || set.Length is < Blueback.Repository.SetIds.MinimumPrefix or > 32 || !set.All(char.IsAsciiHexDigitLower)))
            {
                return Problems.BadRequest("set=ID goes with kind=prove, verify or restore, and a set id is 32 lowercase hex digits, or a unique prefix of at least 8.");
            }
            try
            {
                var (started, busy) = runner.RunNow(name, job, set);
                return started is not null
                    ? Results.Json(started, ProtocolJson.Default.PolicyJobInfo, statusCode: StatusCodes.Status202Accepted)
                    : Problems.Of(StatusCodes.Status409Conflict, "Job running", $"Policy '{name}' is running {busy!.Kind.WireName()} job {busy.Id} (started {busy.Started:O}): one job at a time. Wait for it, or cancel it with DELETE {Routes.PolicyJob(busy.Policy, busy.Id)}.");
            }
            catch (InvalidOperationException ex)
            {
                return Problems.Of(StatusCodes.Status409Conflict, "Nothing to run", ex.Message);
            }
        }).WithName("policy-run");

        app.MapGet(Routes.Templates.PolicySet, async (HttpContext ctx, string name, string id) =>
        {
            if (runner.DefinitionOf(name) is not { } p)
            {
                return NoPolicy(name);
            }
            if (BadSetId(id) is { } bad)
            {
                return bad;
            }
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
            bound.CancelAfter(SetReadBound);
            try
            {
                return Results.Json(await PolicyRepositories.FilesAsync(p, id, bound.Token).ConfigureAwait(false), ProtocolJson.Default.PolicySetFiles);
            }
            catch (Exception ex) when (SetProblem(ex, p, id, ctx.RequestAborted, $"did not give set '{id}''s manifest within {SetReadBound.TotalSeconds:0} s") is { } problem)
            {
                return problem;
            }
        }).WithName("policy-set");

        app.MapGet(Routes.Templates.PolicyJob, (string name, string id) =>
            runner.Job(name, id) is { } job ? Results.Json(job, ProtocolJson.Default.PolicyJobInfo) : Problems.NotFound($"Policy '{name}' has no job '{id}' running or in its recent history."))
            .WithName("policy-job");

        app.MapDelete(Routes.Templates.PolicyJob, (string name, string id) =>
            runner.Cancel(name, id) ? Results.Accepted() : Problems.NotFound($"Policy '{name}' has no running job '{id}' (it may have ended: see its history).")).WithName("policy-cancel");

        app.MapPut(Routes.Templates.Policy, async (HttpContext ctx, string name) =>
        {
            PolicyDefinition p;
            try
            {
                using var reader = new StreamReader(ctx.Request.Body);
                p = ServerConfig.ParsePolicy(await reader.ReadToEndAsync(ctx.RequestAborted).ConfigureAwait(false), "The policy");
            }
            catch (ServerConfigException ex)
            {
                return Problems.BadRequest($"{ex.Message} See docs/console.md for a policy's keys.");
            }
            if (p.Name != name)
            {
                return Problems.BadRequest($"The body's \"name\" must be the policy's name in the path ('{name}').");
            }
            try
            {
                runner.Put(p);
            }
            catch (ServerConfigException ex)
            {
                return Problems.BadRequest(ex.Message);
            }
            return Results.Json(runner.Find(name)!, ProtocolJson.Default.PolicyInfo);
        }).WithName("policy-put");

        app.MapDelete(Routes.Templates.Policy, (string name) =>
            runner.Delete(name) is { } why ? Problems.Of(why.StartsWith("there is no", StringComparison.Ordinal) ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict, "Not removed", why + ".") : Results.NoContent())
            .WithName("policy-delete");
    }

    /// <summary>400 unless <paramref name="id"/> is a set id or a prefix of one long enough to name a set.</summary>
    internal static IResult? BadSetId(string id) =>
        id.Length is < Repository.SetIds.MinimumPrefix or > 32 || !id.All(char.IsAsciiHexDigitLower)
            ? Problems.BadRequest($"'{id}' is not a set id: give its 32 lowercase hex digits, or a unique prefix of at least {Repository.SetIds.MinimumPrefix}.")
            : null;

    /// <summary>What a route reading set <paramref name="id"/> of policy <paramref name="p"/> answers when reading its
    /// repository failed with <paramref name="ex"/>: 404 naming the set, 400 for a prefix of several, 502 naming the
    /// repository, 504 when its bound ran out (<paramref name="slow"/> says what was late); null for anything else.</summary>
    internal static IResult? SetProblem(Exception ex, PolicyDefinition p, string id, CancellationToken aborted, string slow) => ex switch
    {
        Repository.SetNotFoundException => Problems.NotFound($"Policy '{p.Name}''s repository '{p.Repository.Location}' holds no set '{id}' of instance '{p.Instance}' (retention may have forgotten it; GET {Routes.Policy(p.Name)} lists its sets)."),
        Repository.AmbiguousSetIdException => Problems.BadRequest(ex.Message),
        Repository.RepositoryException => Problems.Of(StatusCodes.Status502BadGateway, "Repository unreadable", $"Policy '{p.Name}''s repository '{p.Repository.Location}' cannot be read: {ex.Message}"),
        OperationCanceledException when !aborted.IsCancellationRequested => Problems.Of(StatusCodes.Status504GatewayTimeout, "Repository slow", $"Policy '{p.Name}''s repository '{p.Repository.Location}' {slow}; try again, or check the storage."),
        _ => null,
    };

    internal static IResult NoPolicy(string name) => Problems.NotFound($"There is no policy '{name}' (GET {Routes.Policies} lists them; the server's config file or PUT {Routes.Policy(name)} defines one).");
}
