using Blueback.Protocol;

namespace Blueback.Server.Policies;

/// <summary>Whether a policy does what it promises (issue 34: the console said "online" and green while every backup
/// failed): degraded when its last backup failed, a proof of one of its sets failed, or its last good backup is older
/// than its schedule allows.</summary>
internal static class PolicyHealthCheck
{
    /// <summary>How late the last good backup may be beyond the policy's shortest interval before the policy is
    /// degraded: one more interval (a run that is slow or retried once is not yet a problem), at least a minute.</summary>
    public static TimeSpan Grace(TimeSpan shortest) => shortest > TimeSpan.FromMinutes(1) ? shortest : TimeSpan.FromMinutes(1);

    public static PolicyHealth Of(PolicyLane lane, DateTime now)
    {
        var st = lane.State;
        var (lastGood, kind) = PolicyJobNames.BackupKinds.Select(k => (Time: st.LastSuccessOf(k), Kind: k)).MaxBy(x => x.Time);
        var shortest = PolicyJobNames.BackupKinds.Select(k => PolicyRules.IntervalOf(lane.Definition, k)).OfType<TimeSpan>().Min();
        var health = new PolicyHealth { State = "ok" };
        if (lastGood != default)
        {
            health.LastGood = lastGood;
            health.LastGoodKind = kind.WireName();
            health.StaleAfter = lastGood + shortest + Grace(shortest);
        }
        string? reason = null;
        if (st.Failures > 0 && st.RetryKind is { } failed)
        {
            var error = st.LastJob.GetValueOrDefault(failed.WireName())?.Error;
            reason = $"the last {failed.WireName()} backup failed ({st.Failures} in a row){(error is null ? "" : ": " + error)}";
        }
        else if (lane.Sets.FirstOrDefault(s => s.Proved == false) is { } unproven)
        {
            reason = $"set {Repository.SetIds.Short(unproven.Id)} failed its proof: it does not restore whole";
        }
        else if (health.StaleAfter is { } stale && now > stale)
        {
            reason = $"the last good backup ({kind.WireName()}, {lastGood:yyyy-MM-dd HH:mm:ss} UTC) is older than the schedule allows (every {Describe(shortest)})";
        }
        if (reason is not null)
        {
            health.State = "degraded";
            health.Reason = reason;
        }
        else if (lastGood == default)
        {
            health.State = "waiting";
        }
        return health;
    }

    private static string Describe(TimeSpan t) =>
        t.TotalDays >= 1 && t.TotalDays % 1 == 0 ? $"{t.TotalDays:0}d" : t.TotalHours >= 1 && t.TotalHours % 1 == 0 ? $"{t.TotalHours:0}h" : t.TotalMinutes >= 1 && t.TotalMinutes % 1 == 0 ? $"{t.TotalMinutes:0}m" : $"{t.TotalSeconds:0}s";
}
