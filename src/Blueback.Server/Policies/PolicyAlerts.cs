using Blueback.Protocol;

namespace Blueback.Server.Policies;

/// <summary>What the policies tell an operator: alerts (failures in a row, failed proofs, a shipper down) and the counts
/// behind the metrics. Read under the runner's lock.</summary>
internal sealed class PolicyAlerts
{
    private readonly Dictionary<(string Policy, PolicyJobKind Kind, PolicyJobState State), long> _ended = [];

    /// <summary>Counts a job's end (for <c>blueback_policy_jobs</c>).</summary>
    public void Ended(PolicyJobInfo info) => _ended[(info.Policy, info.Kind, info.State)] = _ended.GetValueOrDefault((info.Policy, info.Kind, info.State)) + 1;

    /// <summary>Jobs ended by policy, kind and outcome (wire names: the metric's labels).</summary>
    public List<((string Policy, string Kind, string State) Key, long Count)> EndedJobs() =>
        _ended.Select(kv => ((kv.Key.Policy, kv.Key.Kind.WireName(), kv.Key.State.WireName()), kv.Value)).ToList();

    /// <summary>The alerts of <paramref name="lane"/>.</summary>
    public static IEnumerable<AlertInfo> Of(PolicyLane lane)
    {
        var st = lane.State;
        if (st.Failures > 0 && st.RetryKind is { } kind && st.LastJob.GetValueOrDefault(kind.WireName()) is { } last)
        {
            yield return new AlertInfo
            {
                Severity = st.Failures >= 3 ? "critical" : "warning",
                Subject = $"policy {lane.Name}",
                Message = $"{st.Failures} {kind.WireName()} backup(s) failed in a row; the last: {last.Error}. Retried at {st.RetryAt:yyyy-MM-dd HH:mm:ss} UTC.",
                Since = last.Ended,
            };
        }
        else if (PolicyHealthCheck.Of(lane, DateTime.UtcNow) is { State: "degraded", StaleAfter: { } stale } health && !lane.Sets.Any(s => s.Proved == false))
        {
            yield return new AlertInfo
            {
                Severity = "warning",
                Subject = $"policy {lane.Name}, schedule",
                Message = $"{health.Reason}. Look at the policy's history and the server's log for why no backup ran (a job still running, the server stopped).",
                Since = stale,
            };
        }
        foreach (var set in lane.Sets.Where(s => s.Proved == false))
        {
            yield return new AlertInfo
            {
                Severity = "critical",
                Subject = $"policy {lane.Name}, set {set.Id}",
                Message = $"set {set.Id} ({set.Type}) FAILED its proof: a restore of it does not come back whole. Run 'blueback prove --set {set.Id}' for the details, and take a new full backup.",
                Since = set.ProvedAt,
            };
        }
        if (st.LastJob.GetValueOrDefault(PolicyJobKind.Prove.WireName()) is { ProofOk: false } p && lane.Sets.All(s => s.Id != p.Set || s.Proved != false))
        {
            yield return new AlertInfo { Severity = "critical", Subject = $"policy {lane.Name}, set {p.Set}", Message = p.Error ?? "the last proof failed", Since = p.Ended };
        }
        if (lane.Definition.Shipping && lane.Shipper.Exited)
        {
            yield return new AlertInfo { Severity = "warning", Subject = $"policy {lane.Name}, shipping", Message = $"the shipper {lane.Shipper.Status}" };
        }
    }
}
