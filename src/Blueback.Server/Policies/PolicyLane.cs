using Blueback.Protocol;

namespace Blueback.Server.Policies;

/// <summary>A job that runs now: its record, its stop, and the child program doing it.</summary>
internal sealed class RunningJob(PolicyJobInfo info, CancellationToken stopping)
{
    public PolicyJobInfo Info { get; } = info;
    public CancellationTokenSource Cancel { get; } = CancellationTokenSource.CreateLinkedTokenSource(stopping);
    public Task Task { get; set; } = Task.CompletedTask;
}

/// <summary>One policy as the runner keeps it: its definition and state, the backup or retention job and the proof it runs
/// (at most one of each), its shipper, and the repository's sets as last listed.</summary>
internal sealed class PolicyLane(PolicyDefinition definition, string source, PolicyState state)
{
    public PolicyDefinition Definition { get; set; } = definition;
    public string Source { get; set; } = source;
    public PolicyState State { get; } = state;
    public RunningJob? Job { get; set; }
    public RunningJob? Proof { get; set; }
    public Queue<(string Kind, string Trigger)> FollowUps { get; } = new();
    public List<PolicySetInfo> Sets { get; set; } = [];
    public DateTime? SetsListed { get; set; }
    public Task? Listing { get; set; }
    public bool RepositoryReady { get; set; }
    public bool Removed { get; set; }

    // The shipper: a long-running child, restarted after a pause when it exits.
    public Task? Shipper { get; set; }
    public CancellationTokenSource? ShipperStop { get; set; }
    public string? ShipperStatus { get; set; }
    public DateTime ShipperRetryAt { get; set; }
    public int ShipperFailures { get; set; }

    public string Name => Definition.Name;

    /// <summary>The backup that is due now, and why; null if none is (or a failure's retry waits).</summary>
    public (string Kind, string Trigger)? DueBackup(DateTime now, DateTime serverStarted)
    {
        var p = Definition;
        if (State.Failures > 0 && State.RetryKind is { } retry)
        {
            if (now < State.RetryAt)
            {
                return null;
            }
            // An incremental or differential that failed twice in a row (a chain that no longer joins, a repository
            // started over) is retried as a full: the next chain starts there.
            return (State.Failures >= 2 && retry != "full" ? "full" : retry, "retry");
        }
        var lastFull = State.LastSuccess.GetValueOrDefault("full");
        var fullEvery = PolicyRules.IntervalOf(p, "full")!.Value;
        if (lastFull == default || now >= lastFull + fullEvery)
        {
            return ("full", lastFull != default && lastFull + fullEvery < serverStarted ? "missed" : "schedule");
        }
        foreach (var kind in new[] { "differential", "incremental" })
        {
            if (PolicyRules.IntervalOf(p, kind) is { } every && now >= LastBase(kind) + every)
            {
                return (kind, LastBase(kind) + every < serverStarted ? "missed" : "schedule");
            }
        }
        return null;
    }

    /// <summary>What an incremental's or differential's interval counts from: any backup's last success for an
    /// incremental, the last full's or differential's for a differential.</summary>
    private DateTime LastBase(string kind) => kind == "incremental"
        ? PolicyRules.BackupKinds.Max(k => State.LastSuccess.GetValueOrDefault(k))
        : new[] { State.LastSuccess.GetValueOrDefault("full"), State.LastSuccess.GetValueOrDefault("differential") }.Max();

    /// <summary>When each kind is next due (for status and the console).</summary>
    public Dictionary<string, DateTime> NextDue()
    {
        var next = new Dictionary<string, DateTime>();
        var lastFull = State.LastSuccess.GetValueOrDefault("full");
        next["full"] = lastFull == default ? DateTime.UtcNow : lastFull + PolicyRules.IntervalOf(Definition, "full")!.Value;
        foreach (var kind in new[] { "incremental", "differential" })
        {
            if (PolicyRules.IntervalOf(Definition, kind) is { } interval)
            {
                next[kind] = LastBase(kind) + interval;
            }
        }
        if (State.Failures > 0 && State.RetryAt is { } r)
        {
            next["retry"] = r;
        }
        if (Definition.Prove.Every is { } every)
        {
            next["prove"] = (State.LastProofSweep ?? DateTime.UtcNow) + PolicyRules.Interval(every, Definition, "prove.every");
        }
        return next;
    }

    /// <summary>The wait before retry number <paramref name="failures"/> of <paramref name="kind"/>: doubling from the
    /// policy's retryAfter (30 s), never beyond the kind's own interval or an hour.</summary>
    public TimeSpan Backoff(string kind, int failures)
    {
        var first = Definition.RetryAfter is { } r ? PolicyRules.Interval(r, Definition, "retryAfter") : TimeSpan.FromSeconds(30);
        var cap = TimeSpan.FromHours(1);
        if (PolicyRules.IntervalOf(Definition, kind) is { } every && every < cap)
        {
            cap = every;
        }
        var wait = first * Math.Pow(2, Math.Min(20, failures - 1));
        return wait < cap ? wait : cap < first ? first : cap;
    }
}
