using Blueback.Protocol;
using Blueback.Server;
using Blueback.Server.Policies;

namespace Blueback.Server.Tests;

/// <summary>The scheduler's rules without a server: what is due when, a missed run once, retries doubling up to the
/// interval, a twice-failed incremental retried as a full, and the definitions refused with what to write.</summary>
public class PolicyScheduleTests
{
    private static readonly DateTime T0 = new(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);

    private static PolicyLane Lane(PolicyState? state = null, string full = "7d", string? incremental = "1h", string? differential = null, string? retryAfter = null) =>
        new(new PolicyDefinition { Name = "p", Instance = "store", Repository = new() { Location = "/r" }, Full = full, Incremental = incremental, Differential = differential, RetryAfter = retryAfter }, PolicySource.Config, state ?? new PolicyState());

    [Fact]
    public void A_new_policy_takes_a_full_first_then_incrementals_on_their_interval()
    {
        var lane = Lane();
        Assert.Equal((PolicyJobKind.Full, PolicyJobTrigger.Schedule), lane.DueBackup(T0, T0));
        lane.State.LastSuccess["full"] = T0;
        Assert.Null(lane.DueBackup(T0.AddMinutes(59), T0));
        Assert.Equal((PolicyJobKind.Incremental, PolicyJobTrigger.Schedule), lane.DueBackup(T0.AddHours(1), T0));
        lane.State.LastSuccess["incremental"] = T0.AddHours(1);
        Assert.Null(lane.DueBackup(T0.AddHours(1.5), T0));
        Assert.Equal((PolicyJobKind.Full, PolicyJobTrigger.Schedule), lane.DueBackup(T0.AddDays(7), T0));
    }

    [Fact]
    public void A_run_missed_while_the_server_was_down_is_due_once_and_says_so()
    {
        var lane = Lane(incremental: null);
        lane.State.LastSuccess["full"] = T0;
        // Down from day 2 to day 30: four fulls were missed; one is due, marked missed.
        var started = T0.AddDays(30);
        Assert.Equal((PolicyJobKind.Full, PolicyJobTrigger.Missed), lane.DueBackup(started, started));
        lane.State.LastSuccess["full"] = started;
        Assert.Null(lane.DueBackup(started.AddMinutes(1), started));
    }

    [Fact]
    public void A_differential_counts_from_the_last_full_or_differential_and_an_incremental_from_any_backup()
    {
        var lane = Lane(incremental: "1h", differential: "6h");
        lane.State.LastSuccess["full"] = T0;
        lane.State.LastSuccess["incremental"] = T0.AddHours(5.5);
        Assert.Equal(PolicyJobKind.Differential, lane.DueBackup(T0.AddHours(6), T0)!.Value.Kind);
        lane.State.LastSuccess["differential"] = T0.AddHours(6);
        Assert.Null(lane.DueBackup(T0.AddHours(6.5), T0));
        Assert.Equal(PolicyJobKind.Incremental, lane.DueBackup(T0.AddHours(7), T0)!.Value.Kind);
    }

    [Fact]
    public void Failures_are_retried_with_a_doubling_pause_capped_by_the_interval_and_a_twice_failed_incremental_becomes_a_full()
    {
        var lane = Lane(retryAfter: "30s");
        Assert.Equal(TimeSpan.FromSeconds(30), lane.Backoff(PolicyJobKind.Incremental, 1));
        Assert.Equal(TimeSpan.FromSeconds(60), lane.Backoff(PolicyJobKind.Incremental, 2));
        Assert.Equal(TimeSpan.FromSeconds(240), lane.Backoff(PolicyJobKind.Incremental, 4));
        Assert.Equal(TimeSpan.FromHours(1), lane.Backoff(PolicyJobKind.Incremental, 12)); // the incremental's own interval
        Assert.Equal(TimeSpan.FromHours(1), lane.Backoff(PolicyJobKind.Full, 30)); // at most an hour

        lane.State.LastSuccess["full"] = T0;
        lane.State.Failures = 1;
        lane.State.RetryKind = PolicyJobKind.Incremental;
        lane.State.RetryAt = T0.AddHours(2);
        Assert.Null(lane.DueBackup(T0.AddHours(1.9), T0)); // waits for its retry, even though an incremental is due
        Assert.Equal((PolicyJobKind.Incremental, PolicyJobTrigger.Retry), lane.DueBackup(T0.AddHours(2), T0));
        lane.State.Failures = 2;
        Assert.Equal((PolicyJobKind.Full, PolicyJobTrigger.Retry), lane.DueBackup(T0.AddHours(2), T0));
    }

    [Theory]
    [InlineData("""{"name":"p","instance":"nosuch","repository":{"location":"/r"},"full":"1d"}""", "does not host")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":""},"full":"1d"}""", "no repository location")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"}}""", "no \"full\" schedule")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"soon"}""", "is not a duration")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","incremental":"0s"}""", "at least 1s")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","retention":{}}""", "keeps nothing")]
    [InlineData("""{"name":"../x","instance":"store","repository":{"location":"/r"},"full":"1d"}""", "is not valid")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","incremental":"1h","shipping":true}""", "\"changedPages\": true")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","copyTo":{"location":"/r/"}}""", "a second repository")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","copyTo":{"location":""}}""", "a second repository")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","readAllAfter":"7d"}""", "without \"skipUnchanged\"")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","skipUnchanged":true,"readAllAfter":"weekly"}""", "readAllAfter 'weekly' is not a duration")]
    [InlineData("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","skipUnchanged":true,"readAllAfter":"0"}""", "longer than zero")]
    public void Definitions_that_cannot_run_are_refused_naming_what_to_write(string json, string expected)
    {
        var p = System.Text.Json.JsonSerializer.Deserialize(json, ProtocolJson.Default.PolicyDefinition)!;
        var ex = Assert.Throws<ServerConfigException>(() => PolicyRules.Validate(p, i => i == "store", "test"));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_policy_that_skips_unchanged_pages_does_so_in_its_fulls_reading_them_all_every_week_unless_told()
    {
        var p = System.Text.Json.JsonSerializer.Deserialize("""{"name":"p","instance":"store","repository":{"location":"/r"},"full":"1d","incremental":"1h","skipUnchanged":true}""", ProtocolJson.Default.PolicyDefinition)!;
        PolicyRules.Validate(p, i => i == "store", "test");
        Assert.Equal(["backup", "--server", "http://s", "--instance", "store", "--type", "full", "--json", "--skip-unchanged", "--read-all-after", "7d", "--digest", "--repo", "/r"], PolicyCommands.Backup(p, PolicyJobKind.Full, "http://s"));
        Assert.DoesNotContain("--skip-unchanged", PolicyCommands.Backup(p, PolicyJobKind.Incremental, "http://s"));
        p.ReadAllAfter = "3d";
        Assert.Contains("3d", PolicyCommands.Backup(p, PolicyJobKind.Full, "http://s"));
    }

    [Fact]
    public void A_policy_with_copyTo_copies_after_each_committed_backup_before_its_retention_with_each_side_s_own_settings()
    {
        var p = System.Text.Json.JsonSerializer.Deserialize("""{"name":"p","instance":"store","repository":{"location":"/r","keyFile":"/a.key"},"full":"1d","retention":{"keepLast":2},"copyTo":{"location":"s3://b/site","s3Endpoint":"http://s3.local:9000","keyFile":"/b.key"}}""", ProtocolJson.Default.PolicyDefinition)!;
        PolicyRules.Validate(p, i => i == "store", "test");
        Assert.Equal(["repo", "copy", "--all", "--json", "--from", "/r", "--from-key-file", "/a.key", "--to", "s3://b/site", "--to-s3-endpoint", "http://s3.local:9000", "--to-key-file", "/b.key"], PolicyCommands.Copy(p));
        Assert.Equal(["repo", "init", "s3://b/site", "--s3-endpoint", "http://s3.local:9000", "--key-file", "/b.key", "--encrypt"], PolicyCommands.Init(p.CopyTo!));

        var lane = new PolicyLane(p, PolicySource.Config, new PolicyState());
        lane.Record(new PolicyJobInfo { Id = "j1", Kind = PolicyJobKind.Full, State = PolicyJobState.Succeeded, Set = "s1", Started = T0, Ended = T0 }, forgotten: false);
        Assert.Equal([PolicyJobKind.Copy, PolicyJobKind.Forget], lane.FollowUps.Select(f => f.Kind));
    }
}
