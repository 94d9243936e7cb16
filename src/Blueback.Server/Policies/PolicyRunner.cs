using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Policies;

/// <summary>Where the runner's children reach this server, and as whom.</summary>
/// <param name="Server">The server's own address for the children (its internal Unix socket).</param>
/// <param name="Token">A backup-role token that lives only in this process's memory and its children's environment.</param>
/// <param name="Program">The command that starts the <c>blueback</c> program.</param>
/// <param name="Busy">Whether the server's clients are at work now (proofs then run a slice of each second only).</param>
/// <param name="RestoreToken">A restore-role token, as short-lived, given only to the restores an operator asks for.</param>
internal sealed record PolicyHostInfo(string Server, string Token, string[] Program, Func<bool>? Busy = null, string? RestoreToken = null)
{
    /// <summary>What every child gets in its environment: the token, so that it never shows on a command line.</summary>
    public IReadOnlyDictionary<string, string> ChildEnvironment { get; } = new Dictionary<string, string> { ["BLUEBACK_TOKEN"] = Token };

    /// <summary>A restore's environment: the restore token (the backup role cannot begin a restore).</summary>
    public IReadOnlyDictionary<string, string> RestoreEnvironment { get; } = new Dictionary<string, string> { ["BLUEBACK_TOKEN"] = RestoreToken ?? Token };
}

/// <summary>Runs the policies: each due backup (one job at a time per instance, a missed run once at start, a failure
/// retried with a doubling pause, never a pile-up), retention after each backup, a proof of each committed set (one
/// proof at a time in the server), and each shipper. Every job is the <c>blueback</c> program in a child process.</summary>
internal sealed class PolicyRunner : IDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ListEvery = TimeSpan.FromMinutes(5);

    private readonly PolicyStore _store;
    private readonly PolicyHostInfo _host;
    private readonly Func<string, bool> _instanceHosted;
    private readonly Func<string, long?> _backupProgress;
    private readonly ILogger _logger;
    private readonly bool _allowShortSchedules;
    private readonly PolicyJobRunner _jobs;
    private readonly PolicyAlerts _alerts = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PolicyLane> _lanes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _busyInstances = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly DateTime _started = DateTime.UtcNow;
    private RunningJob? _proving;
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public PolicyRunner(PolicyStore store, IEnumerable<PolicyDefinition> fromConfig, PolicyHostInfo host, Func<string, bool> instanceHosted, Func<string, long?> backupProgress, ILogger logger, bool allowShortSchedules = false)
    {
        _store = store;
        _allowShortSchedules = allowShortSchedules;
        _host = host;
        _instanceHosted = instanceHosted;
        _backupProgress = backupProgress;
        _logger = logger;
        _jobs = new PolicyJobRunner(host, store.DefaultScratch, logger);
        foreach (var p in fromConfig)
        {
            if (!allowShortSchedules) // a test server's policies may run back to back on purpose
            {
                try
                {
                    PolicyRules.AgainstHistory(p, store.History(p.Name, 200), "The config file");
                }
                catch (ServerConfigException ex)
                {
                    // Said, not refused: a server that will not start after a reboot because its data grew serves no
                    // one and backs nothing up. (policy set and PUT, with an operator there, still refuse it.)
                    _logger.LogWarning("{Problem}", ex.Message);
                }
            }
            _lanes[p.Name] = NewLane(p, PolicySource.Config);
        }
        foreach (var p in store.LoadApiPolicies())
        {
            PolicyRules.Validate(p, instanceHosted, $"policy '{p.Name}' set through the API", allowShortSchedules);
            _lanes[p.Name] = NewLane(p, PolicySource.Api); // set later than the config: it wins
        }
    }

    private PolicyLane NewLane(PolicyDefinition p, PolicySource source)
    {
        var state = _store.LoadState(p.Name);
        // Jobs the state says were running: the server stopped or died under them. Their sets were never committed
        // (or were, and the repository lists them): nothing partial is listed either way.
        foreach (var job in state.Running)
        {
            job.State = PolicyJobState.Interrupted;
            job.Ended ??= DateTime.UtcNow;
            job.Error = "the server stopped or died during this job; a set exists only once committed, so none is left half-written";
            _store.AppendHistory(job);
            state.LastJob[job.Kind.WireName()] = job;
        }
        state.Running.Clear();
        _store.SaveState(p.Name, state);
        return new PolicyLane(p, source, state);
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _lanes.Count;
            }
        }
    }

    public void Start() => _loop = Task.Run(LoopAsync);

    // ---- the scheduler -------------------------------------------------------------------------------------------

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(Tick);
        try
        {
            do
            {
                try
                {
                    Schedule(DateTime.UtcNow);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Logged and tried again at the next tick: one bad pass must not stop every policy for good.
                    _logger.LogError(ex, "Policy scheduler: {Message}", ex.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>One pass: starts what is due, in each lane and in the proof lane.</summary>
    private void Schedule(DateTime now)
    {
        lock (_lock)
        {
            foreach (var lane in _lanes.Values)
            {
                if (lane.Job is null && !_busyInstances.Contains(lane.Definition.Instance))
                {
                    if (lane.FollowUps.TryDequeue(out var follow))
                    {
                        StartLocked(lane, follow.Kind, follow.Trigger, null);
                    }
                    else if (lane.DueBackup(now, _started) is { } due)
                    {
                        StartLocked(lane, due.Kind, due.Trigger, null);
                    }
                }
                if (_proving is null && lane.DueProof(now) is { } proof)
                {
                    StartLocked(lane, PolicyJobKind.Prove, proof.Trigger, proof.Set);
                }
                // Shipping follows a full set (the shipped logs continue its chain).
                if (lane.Definition.Shipping && lane.RepositoryReady && lane.State.LastSuccess.ContainsKey(PolicyJobKind.Full.WireName()) && lane.Shipper.Due(now))
                {
                    lane.Shipper.Start(lane.Name, _host, PolicyCommands.Ship(lane.Definition, _host.Server), _stopping.Token, _logger);
                }
                if (lane.Listing is null or { IsCompleted: true } && lane.RepositoryReady && (lane.SetsListed is null || now - lane.SetsListed > ListEvery))
                {
                    ListLocked(lane);
                }
            }
        }
    }

    /// <summary>Starts a job now in its lane (backups and retention) or in the proof lane. Under the lock.</summary>
    private RunningJob StartLocked(PolicyLane lane, PolicyJobKind kind, PolicyJobTrigger trigger, string? set)
    {
        var info = new PolicyJobInfo
        {
            Id = Guid.NewGuid().ToString("N")[..12],
            Policy = lane.Name,
            Kind = kind,
            Trigger = trigger,
            State = PolicyJobState.Running,
            Started = DateTime.UtcNow,
            Set = set,
        };
        var job = new RunningJob(info, _stopping.Token);
        if (kind.ActsOnSet())
        {
            _proving = job;
            lane.Proof = job;
        }
        else
        {
            lane.Job = job;
            _busyInstances.Add(lane.Definition.Instance);
        }
        lane.State.Running.Add(info);
        _store.SaveState(lane.Name, lane.State);
        _logger.LogInformation("Policy {Policy}: {Kind} job {Id} started ({Trigger}).", lane.Name, kind.WireName(), info.Id, trigger.WireName());
        job.Task = Task.Run(async () => Finish(lane, job, await _jobs.RunAsync(lane, job).ConfigureAwait(false)));
        return job;
    }

    /// <summary>Records the job's end: history, state (successes, failures and the retry, proofs to come), follow-ups.</summary>
    private void Finish(PolicyLane lane, RunningJob job, bool forgotten)
    {
        var info = job.Info;
        info.Ended = DateTime.UtcNow;
        info.Seconds = Math.Round((info.Ended.Value - info.Started).TotalSeconds, 3);
        info.ProgressBytes = null;
        if (job.Cancel.IsCancellationRequested && _stopping.IsCancellationRequested && info.State == PolicyJobState.Cancelled)
        {
            info.Error = "the server stopped during this job; no partial set is listed";
        }
        lock (_lock)
        {
            lane.Record(info, forgotten);
            if (info.Kind.IsBackup() && info.State == PolicyJobState.Failed)
            {
                _logger.LogWarning("Policy {Policy}: {Kind} backup failed ({Failures} in a row), retried at {RetryAt:O}: {Error}", lane.Name, info.Kind.WireName(), lane.State.Failures, lane.State.RetryAt, info.Error);
            }
            _alerts.Ended(info);
            if (!lane.Removed)
            {
                _store.SaveState(lane.Name, lane.State);
                _store.AppendHistory(info);
            }
            if (info.Kind.ActsOnSet())
            {
                _proving = null;
                lane.Proof = null;
            }
            else
            {
                lane.Job = null;
                _busyInstances.Remove(lane.Definition.Instance);
            }
            if (lane.RepositoryReady && !_stopping.IsCancellationRequested && lane.Listing is null or { IsCompleted: true })
            {
                ListLocked(lane);
            }
        }
        _logger.LogInformation("Policy {Policy}: {Kind} job {Id} {State} in {Seconds:0.0} s{Error}", lane.Name, info.Kind.WireName(), info.Id, info.State.WireName(), info.Seconds, info.Error is null ? "" : ": " + info.Error);
    }

    /// <summary>Lists the repository's sets again, in process and bounded (after each job, and every few minutes).</summary>
    private void ListLocked(PolicyLane lane)
    {
        lane.SetsListed = DateTime.UtcNow;
        lane.Listing = Task.Run(async () =>
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            bound.CancelAfter(PolicyJobRunner.LightBound);
            try
            {
                var (sets, copyListError) = await PolicyRepositories.SetsWithCopiesAsync(lane.Definition, bound.Token).ConfigureAwait(false);
                lock (_lock)
                {
                    lane.Sets = sets;
                    lane.CopyListError = copyListError;
                    lane.SetsListed = DateTime.UtcNow;
                }
                SetsChanged?.Invoke(lane.Name, sets.Select(s => s.Id).ToHashSet(StringComparer.Ordinal));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // listed again after the next job, or within five minutes
                if (ex is not OperationCanceledException)
                {
                    _logger.LogWarning("Policy {Policy}: listing the repository's sets failed: {Message}", lane.Name, ex.Message);
                }
            }
        });
    }

    /// <summary>Told the sets a policy's repository lists after each listing, and null when a policy is replaced or
    /// removed: what the browse mounts close by.</summary>
    public Action<string, IReadOnlySet<string>?>? SetsChanged { get; set; }

    // ---- what the routes ask -------------------------------------------------------------------------------------
    public List<PolicyInfo> List()
    {
        lock (_lock)
        {
            return _lanes.Values.OrderBy(l => l.Name, StringComparer.Ordinal).Select(InfoLocked).ToList();
        }
    }

    public PolicyInfo? Find(string name)
    {
        lock (_lock)
        {
            return _lanes.TryGetValue(name, out var lane) ? InfoLocked(lane) : null;
        }
    }

    private PolicyInfo InfoLocked(PolicyLane lane) => new()
    {
        Definition = lane.Definition,
        Source = lane.Source.WireName(),
        Running = WithProgress(lane, lane.Job),
        Proving = lane.Proof?.Info,
        Next = lane.NextDue(),
        Last = new Dictionary<string, PolicyJobInfo>(lane.State.LastJob),
        ConsecutiveFailures = lane.State.Failures,
        Shipper = lane.Definition.Shipping ? lane.Shipper.Status ?? "not started" : null,
        Sets = lane.Sets,
        SetsListed = lane.Listing is null ? null : lane.SetsListed,
        CopyListError = lane.CopyListError,
        Health = PolicyHealthCheck.Of(lane, DateTime.UtcNow),
    };

    private PolicyJobInfo? WithProgress(PolicyLane lane, RunningJob? job)
    {
        if (job is null)
        {
            return null;
        }
        if (job.Info.Kind.IsBackup())
        {
            job.Info.ProgressBytes = _backupProgress(lane.Definition.Instance);
        }
        return job.Info;
    }

    /// <summary>Starts a job now. Null and the job that holds the lane when one runs already (one at a time).</summary>
    public (PolicyJobInfo? Started, PolicyJobInfo? Busy) RunNow(string name, PolicyJobKind kind, string? set)
    {
        lock (_lock)
        {
            var lane = _lanes[name];
            if (kind.ActsOnSet())
            {
                if (_proving is not null)
                {
                    return (null, _proving.Info);
                }
                // A short id (the history's and console's) recorded as the whole one where the listing knows it; the
                // program resolves it in any case, and refuses an ambiguous one listing the candidates.
                var target = set is null ? lane.Sets.OrderByDescending(s => s.Ended).FirstOrDefault()?.Id
                    : lane.Sets.Where(s => s.Id.StartsWith(set, StringComparison.Ordinal)).Select(s => s.Id).ToList() is [var only] ? only : set;
                if (target is null)
                {
                    throw new InvalidOperationException($"policy '{name}' has no set to {kind.WireName()} yet (its repository lists none); give one with set=ID or take a backup first.");
                }
                return (StartLocked(lane, kind, PolicyJobTrigger.RunNow, target).Info, null);
            }
            if (lane.Job is not null)
            {
                return (null, lane.Job.Info);
            }
            if (_busyInstances.Contains(lane.Definition.Instance))
            {
                var other = _lanes.Values.First(l => l.Job is not null && l.Definition.Instance == lane.Definition.Instance);
                return (null, other.Job!.Info);
            }
            return (StartLocked(lane, kind, PolicyJobTrigger.RunNow, null).Info, null);
        }
    }

    /// <summary>The policy's definition now, or null if there is no such policy.</summary>
    public PolicyDefinition? DefinitionOf(string name)
    {
        lock (_lock)
        {
            return _lanes.TryGetValue(name, out var lane) ? lane.Definition : null;
        }
    }

    public bool Exists(string name)
    {
        lock (_lock)
        {
            return _lanes.ContainsKey(name);
        }
    }

    /// <summary>A job by id: running (with its progress), or from the history.</summary>
    public PolicyJobInfo? Job(string name, string id)
    {
        lock (_lock)
        {
            if (_lanes.TryGetValue(name, out var lane))
            {
                if (lane.Job?.Info.Id == id)
                {
                    return WithProgress(lane, lane.Job);
                }
                if (lane.Proof?.Info.Id == id)
                {
                    return lane.Proof.Info;
                }
            }
        }
        return _store.History(name, 500).FirstOrDefault(j => j.Id == id);
    }

    /// <summary>Stops a running job (its program gets a graceful stop: the partial set is removed).</summary>
    public bool Cancel(string name, string id)
    {
        RunningJob? job;
        lock (_lock)
        {
            job = _lanes.TryGetValue(name, out var lane) ? new[] { lane.Job, lane.Proof }.FirstOrDefault(j => j?.Info.Id == id) : null;
        }
        if (job is null)
        {
            return false;
        }
        job.Cancel.Cancel();
        return true;
    }

    public List<PolicyJobInfo> History(string name, int limit) => _store.History(name, limit);

    /// <summary>Adds or replaces a policy set through the API (kept in DATA/policies/api.json).</summary>
    public void Put(PolicyDefinition p)
    {
        PolicyRules.Validate(p, _instanceHosted, "PUT /v1/policies", _allowShortSchedules);
        if (!_allowShortSchedules)
        {
            PolicyRules.AgainstHistory(p, _store.History(p.Name, 200), "PUT /v1/policies");
        }
        lock (_lock)
        {
            if (_lanes.TryGetValue(p.Name, out var lane))
            {
                if (lane.Definition.Shipping && !p.Shipping)
                {
                    lane.Shipper.Stop();
                }
                lane.Definition = p;
                lane.Source = PolicySource.Api;
                lane.RepositoryReady = false;
            }
            else
            {
                _lanes[p.Name] = NewLane(p, PolicySource.Api);
            }
            _store.SaveApiPolicies(_lanes.Values.Where(l => l.Source == PolicySource.Api).Select(l => l.Definition).ToList());
        }
        SetsChanged?.Invoke(p.Name, null);
    }

    /// <summary>Removes a policy set through the API; its running job is stopped. A policy from the config file stays.</summary>
    public string? Delete(string name)
    {
        lock (_lock)
        {
            if (!_lanes.TryGetValue(name, out var lane))
            {
                return $"there is no policy '{name}'";
            }
            if (lane.Source != PolicySource.Api)
            {
                return $"policy '{name}' comes from the server's config file: remove it there and restart the server";
            }
            lane.Removed = true;
            lane.Job?.Cancel.Cancel();
            lane.Proof?.Cancel.Cancel();
            lane.Shipper.Stop();
            _lanes.Remove(name);
            _store.SaveApiPolicies(_lanes.Values.Where(l => l.Source == PolicySource.Api).Select(l => l.Definition).ToList());
        }
        SetsChanged?.Invoke(name, null);
        return null;
    }

    /// <summary>What an operator should look at in the policies: failures in a row, failed proofs, a shipper down.</summary>
    public List<AlertInfo> Alerts()
    {
        lock (_lock)
        {
            return _lanes.Values.SelectMany(PolicyAlerts.Of).ToList();
        }
    }

    /// <summary>Jobs ended, by policy, kind and outcome (for the metrics); failed proofs and failures in a row per policy.</summary>
    public (List<((string Policy, string Kind, string State) Key, long Count)> Jobs, List<(string Policy, int Failures, int FailedProofs)> Policies) Counts()
    {
        lock (_lock)
        {
            return (_alerts.EndedJobs(), _lanes.Values.Select(l => (l.Name, l.State.Failures, l.Sets.Count(s => s.Proved == false))).ToList());
        }
    }

    /// <summary>Stops every job and shipper (each program gets its graceful stop, then a kill after a bound) and waits,
    /// bounded, for them to end. Idempotent (the server stops it early, then its scope ends).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping.Cancel();
        Task[] tasks;
        lock (_lock)
        {
            tasks = _lanes.Values.SelectMany(l => new[] { l.Job?.Task, l.Proof?.Task, l.Shipper.Running, l.Listing }).OfType<Task>().Append(_loop).ToArray();
        }
        try
        {
            Task.WaitAll(tasks, ChildProgram.StopBound + TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
            // each job recorded its own end
        }
        // _stopping is not disposed: a job that outlived the bound still links its token to it.
    }
}
