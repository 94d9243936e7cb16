using Blueback.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Instances;

/// <summary>Every request to an instance's routes passes its slot's gate: it runs only while the instance is online
/// (503 otherwise, saying why), and an in-place restore waits for the requests inside before closing the instance.</summary>
internal static class InstanceGate
{
    /// <summary>Routes under an instance that work on it while it is not online.</summary>
    private static readonly HashSet<string> Ungated = new(StringComparer.Ordinal) { "restore-begin", "standby-promote" };
    /// <summary>Routes that change data: a warm standby refuses them (409) whether or not it is applying.</summary>
    private static readonly HashSet<string> Writes = new(StringComparer.Ordinal) { "put", "delete", "batch" };

    public static void Use(IApplicationBuilder app, InstanceHost host)
    {
        app.Use(async (ctx, next) =>
        {
            var name = ctx.Request.RouteValues.TryGetValue("instance", out var v) ? v as string : null;
            var route = ctx.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName;
            var slot = name is null || route is null || Ungated.Contains(route) ? null : host.Slot(name);
            if (slot is null)
            {
                await next(ctx).ConfigureAwait(false); // unknown instances get their 404 from the endpoint
                return;
            }
            if (!slot.TryEnter(out _))
            {
                await Refusal(slot, route!).ExecuteAsync(ctx).ConfigureAwait(false);
                return;
            }
            try
            {
                await next(ctx).ConfigureAwait(false);
            }
            finally
            {
                slot.Leave();
            }
        });
    }

    /// <summary>Why a request that could not enter is refused. A write to a standby that is applying gets the same
    /// 409 as one to the standby at rest (a 503 would say "retry", and a retry would be refused).</summary>
    internal static IResult Refusal(InstanceSlot slot, string route) =>
        Writes.Contains(route) && slot.ApplyingStandby
            ? Problems.Of(StatusCodes.Status409Conflict, "Standby", $"Instance '{slot.Name}' is a warm standby (read-only), applying the primary's next log generations: writes go to the primary, or promote this standby first ('blueback standby promote').")
            : Problems.Unavailable(slot);
}
