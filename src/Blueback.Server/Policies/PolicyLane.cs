using Blueback.Protocol;

namespace Blueback.Server.Policies;

/// <summary>A job that runs now: its record, its stop, and the child program doing it.</summary>
internal sealed class RunningJob(PolicyJobInfo info, CancellationToken stopping)
{
    public PolicyJobInfo Info { get; } = info;
    public CancellationTokenSource Cancel { get; } = CancellationTokenSource.CreateLinkedTokenSource(stopping);
    public Task Task { get; set; } = Task.CompletedTask;
}

/// <summary>Where a policy came from: the server's config file, or <c>PUT /v1/policies/NAME</c>.</summary>
internal enum PolicySource
{
    Config,
    Api,
}

/// <summary>One policy as the runner keeps it: its definition and state, the backup or retention job and the proof it runs
/// (at most one of each), its shipper, and the repository's sets as last listed. What is due and what a job's end
/// changes are decided here; the runner holds its lock around both.</summary>
internal sealed class PolicyLane(PolicyDefinition definition, PolicySource source, PolicyState state)
{
    public PolicyDefinition Definition { get; set; } = definition;
    public PolicySource Source { get; set; } = source;
    public PolicyState State { get; } = state;
    public RunningJob? Job { get; set; }
    public RunningJob? Proof { get; set; }
    public Queue<(PolicyJobKind Kind, PolicyJobTrigger Trigger)> FollowUps { get; } = new();
    public List<PolicySetInfo> Sets { get; set; } = [];
    public DateTime? SetsListed { get; set; }
    /// <summary>Why the second repository (copyTo) could not be listed at the last listing, or null.</summary>
    public string? CopyListError { get; set; }
    public Task? Listing { get; set; }
    public bool RepositoryReady { get; set; }
    public bool Removed { get; set; }
    public ShipperSupervisor Shipper { get; } = new();

    public string Name => Definition.Name;

    /// <summary>The backup that is due now, and why; null if none is (or a failure's retry waits).</summary>
    public (PolicyJobKind Kind, PolicyJobTrigger Trigger)? DueBackup(DateTime now, DateTime serverStarted)
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
            return (State.Failures >= 2 && retry != PolicyJobKind.Full ? PolicyJobKind.Full : retry, PolicyJobTrigger.Retry);
        }
        var lastFull = State.LastSuccessOf(PolicyJobKind.Full);
        var fullEvery = PolicyRules.IntervalOf(p, PolicyJobKind.Full)!.Value;
        if (lastFull == default || now >= lastFull + fullEvery)
        {
            return (PolicyJobKind.Full, lastFull != default && lastFull + fullEvery < serverStarted ? PolicyJobTrigger.Missed : PolicyJobTrigger.Schedule);
        }
        foreach (var kind in new[] { PolicyJobKind.Differential, PolicyJobKind.Incremental })
        {
            if (PolicyRules.IntervalOf(p, kind) is { } every && now >= LastBase(kind) + every)
            {
                return (kind, LastBase(kind) + every < serverStarted ? PolicyJobTrigger.Missed : PolicyJobTrigger.Schedule);
            }
        }
        return null;
    }

    /// <summary>What an incremental's or differential's interval counts from: any backup's last success for an
    /// incremental, the last full's or differential's for a differential.</summary>
    private DateTime LastBase(PolicyJobKind kind) => kind == PolicyJobKind.Incremental
        ? PolicyJobNames.BackupKinds.Max(State.LastSuccessOf)
        : new[] { State.LastSuccessOf(PolicyJobKind.Full), State.LastSuccessOf(PolicyJobKind.Differential) }.Max();

    /// <summary>When each kind is next due (for status and the console), by wire name, with "retry" for a failure's.</summary>
    public Dictionary<string, DateTime> NextDue()
    {
        var next = new Dictionary<string, DateTime>();
        var lastFull = State.LastSuccessOf(PolicyJobKind.Full);
        next[PolicyJobKind.Full.WireName()] = lastFull == default ? DateTime.UtcNow : lastFull + PolicyRules.IntervalOf(Definition, PolicyJobKind.Full)!.Value;
        foreach (var kind in new[] { PolicyJobKind.Incremental, PolicyJobKind.Differential })
        {
            if (PolicyRules.IntervalOf(Definition, kind) is { } interval)
            {
                next[kind.WireName()] = LastBase(kind) + interval;
            }
        }
        if (State.Failures > 0 && State.RetryAt is { } r)
        {
            next["retry"] = r;
        }
        if (Definition.Prove.Every is { } every)
        {
            next[PolicyJobKind.Prove.WireName()] = (State.LastProofSweep ?? DateTime.UtcNow) + PolicyRules.Interval(every, Definition, "prove.every");
        }
        return next;
    }

    /// <summary>The proof that is due now, and why: a set committed since, else (every so often) the set proven
    /// longest ago.</summary>
    public (string Set, PolicyJobTrigger Trigger)? DueProof(DateTime now)
    {
        if (State.ToProve.Count > 0)
        {
            return (State.ToProve[0], PolicyJobTrigger.AfterBackup);
        }
        if (Definition.Prove.Every is { } text && Sets.Count > 0)
        {
            var every = PolicyRules.Interval(text, Definition, "prove.every");
            if (State.LastProofSweep is not { } last || now >= last + every)
            {
                State.LastProofSweep = now;
                var oldest = Sets.OrderBy(s => s.ProvedAt ?? DateTime.MinValue).ThenBy(s => s.Ended).First();
                return (oldest.Id, PolicyJobTrigger.Schedule);
            }
        }
        return null;
    }

    /// <summary>A job's end in the policy's state: a backup's success (its proof and retention to follow) or failure (its
    /// retry after a doubling pause), a proof done, gc after a forget that forgot something.</summary>
    public void Record(PolicyJobInfo info, bool forgotten)
    {
        var st = State;
        st.Running.RemoveAll(j => j.Id == info.Id);
        st.LastJob[info.Kind.WireName()] = info;
        bool backup = info.Kind.IsBackup();
        if (backup && info.State == PolicyJobState.Succeeded)
        {
            st.LastSuccess[info.Kind.WireName()] = info.Started;
            st.Failures = 0;
            st.RetryAt = null;
            st.RetryKind = null;
            if (Definition.Prove.AfterEach && info.Set is not null)
            {
                st.ToProve.Add(info.Set);
            }
            if (Definition.CopyTo is not null)
            {
                // Before retention: a set the policy keeps only briefly still reaches the second site.
                FollowUps.Enqueue((PolicyJobKind.Copy, PolicyJobTrigger.AfterBackup));
            }
            if (Definition.Retention is not null)
            {
                FollowUps.Enqueue((PolicyJobKind.Forget, PolicyJobTrigger.AfterBackup));
            }
        }
        else if (backup && info.State == PolicyJobState.Failed)
        {
            st.Failures++;
            st.RetryKind = info.Kind;
            st.RetryAt = info.Ended + Backoff(info.Kind, st.Failures);
        }
        else if (info.Kind == PolicyJobKind.Prove && info.State != PolicyJobState.Cancelled)
        {
            st.ToProve.Remove(info.Set!);
        }
        else if (info.Kind == PolicyJobKind.Forget && info.State == PolicyJobState.Succeeded && forgotten)
        {
            // Forgotten sets' chunks are freed once gc's grace has passed (a restore reading them meanwhile still works).
            FollowUps.Enqueue((PolicyJobKind.Gc, PolicyJobTrigger.AfterBackup));
        }
    }

    /// <summary>The wait before retry number <paramref name="failures"/> of <paramref name="kind"/>: doubling from the
    /// policy's retryAfter (30 s), never beyond the kind's own interval or an hour.</summary>
    public TimeSpan Backoff(PolicyJobKind kind, int failures)
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
