using System.Text.Json;
using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Policies;

/// <summary>Where the runner's children reach this server, and as whom.</summary>
/// <param name="Server">The server's own address for the children (its internal Unix socket).</param>
/// <param name="Token">A backup-role token that lives only in this process's memory and its children's environment.</param>
/// <param name="Program">The command that starts the <c>blueback</c> program.</param>
/// <param name="Busy">Whether the server's clients are at work now (proofs then run a slice of each second only).</param>
internal sealed record PolicyHostInfo(string Server, string Token, string[] Program, Func<bool>? Busy = null);

/// <summary>Runs the policies: each due backup (one job at a time per instance, a missed run once at start, a failure
/// retried with a doubling pause, never a pile-up), retention after each backup, a proof of each committed set (one
/// proof at a time in the server), and each shipper. Every job is the <c>blueback</c> program in a child process.</summary>
internal sealed class PolicyRunner : IDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ListEvery = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan BackupBound = TimeSpan.FromHours(24);
    private static readonly TimeSpan LightBound = TimeSpan.FromMinutes(10);

    private readonly PolicyStore _store;
    private readonly PolicyHostInfo _host;
    private readonly Func<string, bool> _instanceHosted;
    private readonly Func<string, long?> _backupProgress;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PolicyLane> _lanes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _busyInstances = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly DateTime _started = DateTime.UtcNow;
    private readonly Dictionary<(string Policy, string Kind, string State), long> _counts = [];
    private RunningJob? _proving;
    private Task _loop = Task.CompletedTask;

    public PolicyRunner(PolicyStore store, IEnumerable<PolicyDefinition> fromConfig, PolicyHostInfo host, Func<string, bool> instanceHosted, Func<string, long?> backupProgress, ILogger logger)
    {
        _store = store;
        _host = host;
        _instanceHosted = instanceHosted;
        _backupProgress = backupProgress;
        _logger = logger;
        foreach (var p in fromConfig)
        {
            _lanes[p.Name] = NewLane(p, "config");
        }
        foreach (var p in store.LoadApiPolicies())
        {
            PolicyRules.Validate(p, instanceHosted, $"policy '{p.Name}' set through the API");
            _lanes[p.Name] = NewLane(p, "api"); // set later than the config: it wins
        }
    }

    private PolicyLane NewLane(PolicyDefinition p, string source)
    {
        var state = _store.LoadState(p.Name);
        // Jobs the state says were running: the server stopped or died under them. Their sets were never committed
        // (or were, and the repository lists them): nothing partial is listed either way.
        foreach (var job in state.Running)
        {
            job.State = "interrupted";
            job.Ended ??= DateTime.UtcNow;
            job.Error = "the server stopped or died during this job; a set exists only once committed, so none is left half-written";
            _store.AppendHistory(job);
            state.LastJob[job.Kind] = job;
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
                if (_proving is null && NextProof(lane, now) is { } proof)
                {
                    StartLocked(lane, "prove", proof.Trigger, proof.Set);
                }
                // Shipping follows a full set (the shipped logs continue its chain).
                if (lane.Definition.Shipping && lane.Shipper is null && now >= lane.ShipperRetryAt && lane.RepositoryReady && lane.State.LastSuccess.ContainsKey("full"))
                {
                    StartShipper(lane);
                }
                if (lane.Listing is null or { IsCompleted: true } && lane.RepositoryReady && (lane.SetsListed is null || now - lane.SetsListed > ListEvery))
                {
                    lane.SetsListed = now;
                    lane.Listing = ListSetsAsync(lane);
                }
            }
        }
    }

    private static (string Set, string Trigger)? NextProof(PolicyLane lane, DateTime now)
    {
        if (lane.State.ToProve.Count > 0)
        {
            return (lane.State.ToProve[0], "after-backup");
        }
        if (lane.Definition.Prove.Every is { } text && lane.Sets.Count > 0)
        {
            var every = PolicyRules.Interval(text, lane.Definition, "prove.every");
            if (lane.State.LastProofSweep is not { } last || now >= last + every)
            {
                lane.State.LastProofSweep = now;
                var oldest = lane.Sets.OrderBy(s => s.ProvedAt ?? DateTime.MinValue).ThenBy(s => s.Ended).First();
                return (oldest.Id, "schedule");
            }
        }
        return null;
    }

    /// <summary>Starts a job now in its lane (backups and retention) or in the proof lane. Under the lock.</summary>
    private RunningJob StartLocked(PolicyLane lane, string kind, string trigger, string? set)
    {
        var info = new PolicyJobInfo
        {
            Id = Guid.NewGuid().ToString("N")[..12],
            Policy = lane.Name,
            Kind = kind,
            Trigger = trigger,
            State = "running",
            Started = DateTime.UtcNow,
            Set = set,
        };
        var job = new RunningJob(info, _stopping.Token);
        if (kind == "prove")
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
        _logger.LogInformation("Policy {Policy}: {Kind} job {Id} started ({Trigger}).", lane.Name, kind, info.Id, trigger);
        job.Task = Task.Run(() => RunAsync(lane, job));
        return job;
    }

    private async Task RunAsync(PolicyLane lane, RunningJob job)
    {
        var info = job.Info;
        var p = lane.Definition;
        bool forgotten = false;
        try
        {
            if (!lane.RepositoryReady)
            {
                await EnsureRepositoryAsync(lane, job).ConfigureAwait(false);
            }
            switch (info.Kind)
            {
                case "full" or "incremental" or "differential":
                    {
                        var r = await ChildAsync(job, PolicyCommands.Backup(p, info.Kind, _host.Server), BackupBound).ConfigureAwait(false);
                        if (r.Exit == 0)
                        {
                            PolicyCommands.ReadBackup(r.Out, info);
                        }
                        else if (PolicyCommands.ReadCommittedAfterCommit(r.Out, info))
                        {
                            // Its set is listed: recorded as taken (not retried as a failure, nor "no partial set"
                            // beside a set that is there), with what was left undone in its error.
                            info.State = "succeeded";
                            break;
                        }
                        End(job, r);
                        break;
                    }
                case "prove":
                    {
                        var r = await ChildAsync(job, PolicyCommands.Prove(p, info.Set!, p.Prove.Scratch ?? _store.DefaultScratch), BackupBound, _host.Busy).ConfigureAwait(false);
                        if (r.Exit is 0 or 1 && !r.Stopped)
                        {
                            PolicyCommands.ReadProof(r.Out, info);
                        }
                        End(job, r, failed: info.ProofOk == false);
                        if (r.Exit == 2 && r.Err.Contains("has no set", StringComparison.Ordinal))
                        {
                            // Retention forgot the set before its proof came up: nothing to prove, nothing wrong.
                            info.State = "skipped";
                            info.Error = $"set {info.Set} was forgotten (retention) before its proof ran";
                        }
                        break;
                    }
                case "forget":
                    {
                        var r = await ChildAsync(job, PolicyCommands.Forget(p), LightBound).ConfigureAwait(false);
                        End(job, r);
                        forgotten = r.Exit == 0 && PolicyCommands.Forgotten(r.Out) > 0;
                        break;
                    }
                case "gc":
                    End(job, await ChildAsync(job, ["repo", "gc", .. PolicyCommands.Repository(p)], LightBound).ConfigureAwait(false));
                    break;
                default:
                    throw new InvalidOperationException($"no job kind '{info.Kind}'");
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            info.State = job.Cancel.IsCancellationRequested ? "cancelled" : "failed";
            info.Error ??= ex is OperationCanceledException ? "cancelled before it started" : ex.Message;
        }
        finally
        {
            Finish(lane, job, forgotten);
        }
    }

    /// <summary>The repository exists (or is made, if the policy says so) before the first job uses it.</summary>
    private async Task EnsureRepositoryAsync(PolicyLane lane, RunningJob job)
    {
        var list = await ChildAsync(job, PolicyCommands.List(lane.Definition), LightBound).ConfigureAwait(false);
        if (list.Exit != 0 && list.Err.Contains("is not a Blueback repository", StringComparison.Ordinal) && lane.Definition.Repository.Create)
        {
            var init = await ChildAsync(job, PolicyCommands.Init(lane.Definition), LightBound).ConfigureAwait(false);
            if (init.Exit != 0)
            {
                throw new InvalidOperationException($"the repository '{lane.Definition.Repository.Location}' does not exist and could not be created: {init.Reason}");
            }
            _logger.LogInformation("Policy {Policy}: created repository {Repository}.", lane.Name, lane.Definition.Repository.Location);
        }
        else if (list.Exit != 0)
        {
            job.Cancel.Token.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"the repository '{lane.Definition.Repository.Location}' cannot be read: {list.Reason}");
        }
        lane.RepositoryReady = true;
    }

    private async Task<ChildResult> ChildAsync(RunningJob job, List<string> args, TimeSpan bound, Func<bool>? busy = null)
    {
        var env = new Dictionary<string, string> { ["BLUEBACK_TOKEN"] = _host.Token };
        return await ChildProgram.RunAsync(_host.Program, args, env, bound, null, job.Cancel.Token, busy).ConfigureAwait(false);
    }

    private static void End(RunningJob job, ChildResult r, bool failed = false)
    {
        var info = job.Info;
        if (r.Stopped && job.Cancel.IsCancellationRequested)
        {
            info.State = "cancelled";
            info.Error ??= "stopped before it ended; no partial set is listed";
        }
        else if (r.Exit != 0 || failed)
        {
            info.State = "failed";
            info.Error ??= r.Reason;
        }
        else
        {
            info.State = "succeeded";
        }
    }

    /// <summary>Records the job's end: history, state (successes, failures and the retry, proofs to come), follow-ups.</summary>
    private void Finish(PolicyLane lane, RunningJob job, bool forgotten)
    {
        var info = job.Info;
        info.Ended = DateTime.UtcNow;
        info.Seconds = Math.Round((info.Ended.Value - info.Started).TotalSeconds, 3);
        info.ProgressBytes = null;
        if (job.Cancel.IsCancellationRequested && _stopping.IsCancellationRequested && info.State == "cancelled")
        {
            info.Error = "the server stopped during this job; no partial set is listed";
        }
        lock (_lock)
        {
            var st = lane.State;
            st.Running.RemoveAll(j => j.Id == info.Id);
            st.LastJob[info.Kind] = info;
            bool backup = PolicyRules.BackupKinds.Contains(info.Kind);
            if (backup && info.State == "succeeded")
            {
                st.LastSuccess[info.Kind] = info.Started;
                st.Failures = 0;
                st.RetryAt = null;
                st.RetryKind = null;
                if (lane.Definition.Prove.AfterEach && info.Set is not null)
                {
                    st.ToProve.Add(info.Set);
                }
                if (lane.Definition.Retention is not null)
                {
                    lane.FollowUps.Enqueue(("forget", "after-backup"));
                }
            }
            else if (backup && info.State == "failed")
            {
                st.Failures++;
                st.RetryKind = info.Kind;
                st.RetryAt = info.Ended + lane.Backoff(info.Kind, st.Failures);
                _logger.LogWarning("Policy {Policy}: {Kind} backup failed ({Failures} in a row), retried at {RetryAt:O}: {Error}", lane.Name, info.Kind, st.Failures, st.RetryAt, info.Error);
            }
            else if (info.Kind == "prove" && info.State != "cancelled")
            {
                st.ToProve.Remove(info.Set!);
                if (info.ProofOk == false)
                {
                    _logger.LogError("Policy {Policy}: PROOF FAILED for set {Set}: {Error}", lane.Name, info.Set, info.Error);
                }
            }
            else if (info.Kind == "forget" && info.State == "succeeded" && forgotten)
            {
                // Forgotten sets' chunks are freed once gc's grace has passed (a restore reading them meanwhile still works).
                lane.FollowUps.Enqueue(("gc", "after-backup"));
            }
            _counts[(lane.Name, info.Kind, info.State)] = _counts.GetValueOrDefault((lane.Name, info.Kind, info.State)) + 1;
            if (!lane.Removed)
            {
                _store.SaveState(lane.Name, st);
                _store.AppendHistory(info);
            }
            if (info.Kind == "prove")
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
                lane.SetsListed = DateTime.UtcNow;
                lane.Listing = ListSetsAsync(lane);
            }
        }
        _logger.LogInformation("Policy {Policy}: {Kind} job {Id} {State} in {Seconds:0.0} s{Error}", lane.Name, info.Kind, info.Id, info.State, info.Seconds, info.Error is null ? "" : ": " + info.Error);
    }

    private async Task ListSetsAsync(PolicyLane lane)
    {
        try
        {
            var r = await ChildProgram.RunAsync(_host.Program, PolicyCommands.List(lane.Definition), new Dictionary<string, string>(), LightBound, null, _stopping.Token).ConfigureAwait(false);
            if (r.Exit == 0)
            {
                var sets = PolicyCommands.ReadSets(r.Out, lane.Definition.Instance);
                lock (_lock)
                {
                    lane.Sets = sets;
                    lane.SetsListed = DateTime.UtcNow;
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // listed again after the next job, or within five minutes
            if (ex is not OperationCanceledException)
            {
                _logger.LogWarning("Policy {Policy}: listing the repository's sets failed: {Message}", lane.Name, ex.Message);
            }
        }
    }

    private void StartShipper(PolicyLane lane)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        lane.ShipperStop = stop;
        lane.ShipperStatus = "starting";
        lane.Shipper = Task.Run(async () =>
        {
            ChildResult? r = null;
            try
            {
                var env = new Dictionary<string, string> { ["BLUEBACK_TOKEN"] = _host.Token };
                r = await ChildProgram.RunAsync(_host.Program, PolicyCommands.Ship(lane.Definition, _host.Server), env, TimeSpan.FromDays(3650),
                    pid => lane.ShipperStatus = $"running (pid {pid})", stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
            {
                lane.ShipperStatus = $"could not start: {ex.Message}";
            }
            lock (_lock)
            {
                if (r is not null)
                {
                    lane.ShipperFailures = r.Stopped ? 0 : lane.ShipperFailures + 1;
                    var wait = TimeSpan.FromSeconds(Math.Min(60, 2 * Math.Pow(2, Math.Min(5, lane.ShipperFailures))));
                    lane.ShipperRetryAt = DateTime.UtcNow + wait;
                    lane.ShipperStatus = r.Stopped ? "stopped" : $"exited ({r.Reason}); restarting at {lane.ShipperRetryAt:HH:mm:ss} UTC";
                    if (!r.Stopped)
                    {
                        _logger.LogWarning("Policy {Policy}: the shipper exited: {Reason}", lane.Name, r.Reason);
                    }
                }
                lane.Shipper = null;
            }
            stop.Dispose();
        });
    }

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
        Source = lane.Source,
        Running = WithProgress(lane, lane.Job),
        Proving = lane.Proof?.Info,
        Next = lane.NextDue(),
        Last = new Dictionary<string, PolicyJobInfo>(lane.State.LastJob),
        ConsecutiveFailures = lane.State.Failures,
        Shipper = lane.Definition.Shipping ? lane.ShipperStatus ?? "not started" : null,
        Sets = lane.Sets,
        SetsListed = lane.Listing is null ? null : lane.SetsListed,
    };

    private PolicyJobInfo? WithProgress(PolicyLane lane, RunningJob? job)
    {
        if (job is null)
        {
            return null;
        }
        if (PolicyRules.BackupKinds.Contains(job.Info.Kind))
        {
            job.Info.ProgressBytes = _backupProgress(lane.Definition.Instance);
        }
        return job.Info;
    }

    /// <summary>Starts a job now. Null and the job that holds the lane when one runs already (one at a time).</summary>
    public (PolicyJobInfo? Started, PolicyJobInfo? Busy) RunNow(string name, string kind, string? set)
    {
        lock (_lock)
        {
            var lane = _lanes[name];
            if (kind == "prove")
            {
                if (_proving is not null)
                {
                    return (null, _proving.Info);
                }
                var target = set ?? lane.Sets.OrderByDescending(s => s.Ended).FirstOrDefault()?.Id;
                if (target is null)
                {
                    throw new InvalidOperationException($"policy '{name}' has no set to prove yet (its repository lists none); give one with set=ID or take a backup first.");
                }
                return (StartLocked(lane, kind, "run-now", target).Info, null);
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
            return (StartLocked(lane, kind, "run-now", null).Info, null);
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
        PolicyRules.Validate(p, _instanceHosted, "PUT /v1/policies");
        lock (_lock)
        {
            if (_lanes.TryGetValue(p.Name, out var lane))
            {
                if (lane.Definition.Shipping && !p.Shipping)
                {
                    lane.ShipperStop?.Cancel();
                }
                lane.Definition = p;
                lane.Source = "api";
                lane.RepositoryReady = false;
            }
            else
            {
                _lanes[p.Name] = NewLane(p, "api");
            }
            _store.SaveApiPolicies(_lanes.Values.Where(l => l.Source == "api").Select(l => l.Definition).ToList());
        }
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
            if (lane.Source != "api")
            {
                return $"policy '{name}' comes from the server's config file: remove it there and restart the server";
            }
            lane.Removed = true;
            lane.Job?.Cancel.Cancel();
            lane.Proof?.Cancel.Cancel();
            lane.ShipperStop?.Cancel();
            _lanes.Remove(name);
            _store.SaveApiPolicies(_lanes.Values.Where(l => l.Source == "api").Select(l => l.Definition).ToList());
            return null;
        }
    }

    /// <summary>What an operator should look at in the policies: failures in a row, failed proofs, a shipper down.</summary>
    public List<AlertInfo> Alerts()
    {
        var alerts = new List<AlertInfo>();
        lock (_lock)
        {
            foreach (var lane in _lanes.Values)
            {
                if (lane.State.Failures > 0 && lane.State.RetryKind is { } kind && lane.State.LastJob.GetValueOrDefault(kind) is { } last)
                {
                    alerts.Add(new AlertInfo
                    {
                        Severity = lane.State.Failures >= 3 ? "critical" : "warning",
                        Subject = $"policy {lane.Name}",
                        Message = $"{lane.State.Failures} {kind} backup(s) failed in a row; the last: {last.Error}. Retried at {lane.State.RetryAt:yyyy-MM-dd HH:mm:ss} UTC.",
                        Since = last.Ended,
                    });
                }
                foreach (var set in lane.Sets.Where(s => s.Proved == false))
                {
                    alerts.Add(new AlertInfo
                    {
                        Severity = "critical",
                        Subject = $"policy {lane.Name}, set {set.Id}",
                        Message = $"set {set.Id} ({set.Type}) FAILED its proof: a restore of it does not come back whole. Run 'blueback prove --set {set.Id}' for the details, and take a new full backup.",
                        Since = set.ProvedAt,
                    });
                }
                if (lane.State.LastJob.GetValueOrDefault("prove") is { ProofOk: false } p && lane.Sets.All(s => s.Id != p.Set || s.Proved != false))
                {
                    alerts.Add(new AlertInfo { Severity = "critical", Subject = $"policy {lane.Name}, set {p.Set}", Message = p.Error ?? "the last proof failed", Since = p.Ended });
                }
                if (lane.Definition.Shipping && lane.ShipperStatus is { } s && s.StartsWith("exited", StringComparison.Ordinal))
                {
                    alerts.Add(new AlertInfo { Severity = "warning", Subject = $"policy {lane.Name}, shipping", Message = $"the shipper {s}" });
                }
            }
        }
        return alerts;
    }

    /// <summary>Jobs ended, by policy, kind and outcome (for the metrics); failed proofs and failures in a row per policy.</summary>
    public (List<((string Policy, string Kind, string State) Key, long Count)> Jobs, List<(string Policy, int Failures, int FailedProofs)> Policies) Counts()
    {
        lock (_lock)
        {
            return (_counts.Select(kv => (kv.Key, kv.Value)).ToList(),
                _lanes.Values.Select(l => (l.Name, l.State.Failures, l.Sets.Count(s => s.Proved == false))).ToList());
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
            tasks = _lanes.Values.SelectMany(l => new[] { l.Job?.Task, l.Proof?.Task, l.Shipper, l.Listing }).OfType<Task>().Append(_loop).ToArray();
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

    private int _disposed;
}
