using Blueback.Server.Instances;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Xunit;

namespace Blueback.Server.Tests;

/// <summary>What the gate answers a request that cannot enter its instance. Found by CI: a write that reached a
/// standby while it applied the next generations got 503 ("retry"), where a write to a standby is a 409.</summary>
public class InstanceGateTests
{
    private static int StatusOf(IResult result) => ((IStatusCodeHttpResult)result).StatusCode ?? 200;

    [Fact]
    public void A_write_to_a_standby_applying_generations_is_refused_as_a_standby_and_a_read_waits_for_it()
    {
        var slot = new InstanceSlot("store");
        Assert.True(slot.TryTakeOffline(TimeSpan.FromSeconds(1), $"{InstanceSlot.StandbyApplyPrefix}generations 5-6"));
        foreach (var write in new[] { "put", "delete", "batch" })
        {
            var refused = InstanceGate.Refusal(slot, write);
            Assert.Equal(StatusCodes.Status409Conflict, StatusOf(refused));
            Assert.Contains("warm standby", ((JsonHttpResult<Blueback.Protocol.Problem>)refused).Value!.Detail, StringComparison.Ordinal);
        }
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, StatusOf(InstanceGate.Refusal(slot, "get")));
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, StatusOf(InstanceGate.Refusal(slot, "scan")));
    }

    [Fact]
    public void A_write_during_a_promotion_or_a_restore_is_told_to_retry()
    {
        var promoting = new InstanceSlot("store");
        Assert.True(promoting.TryTakeOffline(TimeSpan.FromSeconds(1), $"{InstanceSlot.StandbyApplyPrefix}promotion"));
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, StatusOf(InstanceGate.Refusal(promoting, "put")));
        var restoring = new InstanceSlot("store");
        Assert.True(restoring.TryTakeOffline(TimeSpan.FromSeconds(1), "r-1"));
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, StatusOf(InstanceGate.Refusal(restoring, "put")));
        var offline = new InstanceSlot("store");
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, StatusOf(InstanceGate.Refusal(offline, "batch")));
    }
}
