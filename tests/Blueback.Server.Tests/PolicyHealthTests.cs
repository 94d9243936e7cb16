using Blueback.Protocol;
using Blueback.Server.Policies;

namespace Blueback.Server.Tests;

/// <summary>A policy's health (issue 34: the console said "online" and green while every backup failed): degraded when
/// its last backup failed, a set failed its proof, or its last good backup is older than its schedule allows.</summary>
public class PolicyHealthTests
{
    private static readonly DateTime T0 = new(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);

    private static PolicyLane Lane(string full = "1d", string? incremental = "1h") =>
        new(new PolicyDefinition { Name = "p", Instance = "store", Repository = new() { Location = "/r" }, Full = full, Incremental = incremental }, PolicySource.Config, new PolicyState());

    [Fact]
    public void A_policy_that_never_backed_up_and_never_failed_is_waiting()
    {
        var h = PolicyHealthCheck.Of(Lane(), T0);
        Assert.Equal("waiting", h.State);
        Assert.Null(h.LastGood);
    }

    [Fact]
    public void A_recent_good_backup_is_ok_and_names_its_kind_and_time()
    {
        var lane = Lane();
        lane.State.LastSuccess["full"] = T0;
        lane.State.LastSuccess["incremental"] = T0.AddHours(3);
        var h = PolicyHealthCheck.Of(lane, T0.AddHours(3.5));
        Assert.Equal("ok", h.State);
        Assert.Equal("incremental", h.LastGoodKind);
        Assert.Equal(T0.AddHours(3), h.LastGood);
    }

    [Fact]
    public void A_failed_last_backup_is_degraded_with_its_error()
    {
        var lane = Lane();
        lane.State.LastSuccess["full"] = T0;
        lane.Record(new PolicyJobInfo { Id = "j1", Policy = "p", Kind = PolicyJobKind.Incremental, State = PolicyJobState.Failed, Started = T0.AddHours(1), Ended = T0.AddHours(1), Error = "the repository '/r' cannot be read" }, false);
        var h = PolicyHealthCheck.Of(lane, T0.AddHours(1));
        Assert.Equal("degraded", h.State);
        Assert.Contains("incremental backup failed (1 in a row)", h.Reason, StringComparison.Ordinal);
        Assert.Contains("cannot be read", h.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_last_good_backup_older_than_the_schedule_allows_is_degraded_and_alerted()
    {
        var lane = Lane();
        lane.State.LastSuccess["full"] = T0;
        // Every hour: one interval late is a grace (a slow or retried run), two is a problem.
        Assert.Equal("ok", PolicyHealthCheck.Of(lane, T0.AddHours(1.9)).State);
        var h = PolicyHealthCheck.Of(lane, T0.AddHours(2.1));
        Assert.Equal("degraded", h.State);
        Assert.Contains("older than the schedule allows (every 1h)", h.Reason, StringComparison.Ordinal);
        Assert.Equal(T0.AddHours(2), h.StaleAfter);
    }

    [Fact]
    public void A_set_that_failed_its_proof_degrades_its_policy()
    {
        var lane = Lane();
        lane.State.LastSuccess["full"] = DateTime.UtcNow;
        lane.Sets = [new PolicySetInfo { Id = "0123456789abcdef0123456789abcdef", Type = "full", Proved = false }];
        var h = PolicyHealthCheck.Of(lane, DateTime.UtcNow);
        Assert.Equal("degraded", h.State);
        Assert.Contains("set 01234567 failed its proof", h.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stale_policy_raises_an_alert_naming_its_schedule()
    {
        var lane = Lane();
        lane.State.LastSuccess["full"] = DateTime.UtcNow.AddHours(-5);
        var alert = Assert.Single(PolicyAlerts.Of(lane));
        Assert.Equal("policy p, schedule", alert.Subject);
        Assert.Contains("older than the schedule allows", alert.Message, StringComparison.Ordinal);
    }
}
