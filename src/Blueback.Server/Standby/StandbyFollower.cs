using System.Diagnostics;
using System.Diagnostics.Metrics;
using Blueback.Backup;
using Blueback.IO;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Server.Instances;
using Blueback.Storage;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Restore;
using Blueback.Storage.Standby;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Standby;

/// <summary>What a server runs as a warm standby of an instance shipped into a repository.</summary>
public sealed record StandbyOptions(string Instance, Func<CancellationToken, Task<BackupRepository>> OpenRepository)
{
    /// <summary>How often the repository is looked at for new generations.</summary>
    public TimeSpan Poll { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A lagged standby: how far behind the primary's commits it stays (zero: applies at once).</summary>
    public TimeSpan ApplyDelay { get; init; }

    /// <summary>Below this many free bytes on the volume of its log directory, a lagged standby plays down: it applies
    /// everything fetched, its delay given up until space comes back.</summary>
    public long MinLogFree { get; init; } = DefaultMinLogFree;

    public const long DefaultMinLogFree = 1L << 30;
}

/// <summary>A warm standby (docs/standby.md): restores the latest full set (and every shipped generation after
/// it) into the server's data directory, then polls the repository and applies each new generation; between
/// applies the instance serves reads from a read-only view (writes get 409). Promotion applies what is left,
/// starts a new log stream and opens the instance writable. Killed at any moment, it carries on from its applied
/// position on the next start.</summary>
internal sealed class StandbyFollower : IDisposable
{
    private static readonly TimeSpan Drain = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxStartBackoff = TimeSpan.FromSeconds(30);
    private readonly InstanceHost _host;
    private readonly StandbyOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly string _dir;
    private BackupRepository? _repo;
    private Task _loop = Task.CompletedTask;
    private Lsn? _continue;
    private volatile string _state = "starting";
    private volatile string? _lastError;
    private uint _primaryShippedThrough;
    private DateTime? _primaryCover;
    private DateTime _lastDurable;
    private uint _fetchedThrough; // a lagged standby fetches generations before it applies them
    private volatile StandbyBacklog _backlog = StandbyBacklog.None;
    private volatile string? _playDown;
    private long _playDowns;
    private static readonly TimeSpan DurableEvery = TimeSpan.FromSeconds(5);

    public StandbyFollower(InstanceHost host, StandbyOptions options, ILogger logger)
    {
        _host = host;
        _options = options;
        _logger = logger;
        _dir = host.DirectoryOf(options.Instance);
        var tag = new KeyValuePair<string, object?>("instance", options.Instance);
        var status = new Observability.ScrapeSnapshot<StandbyStatus>(Status); // three gauges, one read of the state files
        _meter.CreateObservableGauge("blueback_standby_lag_milliseconds", () => new Measurement<long>((long)(status.Value.LagSeconds * 1000), tag), unit: "ms", description: "How far a warm standby's last applied commit trails the primary's newest shipped one.");
        _meter.CreateObservableGauge("blueback_standby_lag_generations", () => new Measurement<long>(status.Value.LagGenerations, tag), description: "Shipped generations a warm standby has not applied yet.");
        _meter.CreateObservableGauge("blueback_standby_applied_through", () => new Measurement<long>(status.Value.AppliedThrough, tag), description: "The last log generation a warm standby applied.");
        _meter.CreateObservableGauge("blueback_standby_waiting_bytes", () => new Measurement<long>(status.Value.WaitingBytes, tag), unit: "bytes", description: "Log bytes a lagged standby has fetched and holds back for its apply delay.");
        _meter.CreateObservableCounter("blueback_standby_play_downs", () => new Measurement<long>(Interlocked.Read(ref _playDowns), tag), description: "Applies a lagged standby made before their delay because its log volume ran low.");
    }

    // The server's meter name: the Prometheus exporter picks these up beside the server's own.
    private readonly Meter _meter = new(Observability.ServerMetrics.MeterName);

    public string Instance => _options.Instance;

    /// <summary>Starts in the background: the server listens meanwhile, the instance answering 503 until its first
    /// view is open.</summary>
    public void Start()
    {
        var slot = _host.AddSlot(_options.Instance, "the warm standby is starting (restoring the latest full set from the repository)");
        if (slot.State == InstanceState.Online)
        {
            _state = "promoted"; // served as an ordinary instance already (promoted on an earlier run)
            return;
        }
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    private async Task RunAsync(CancellationToken ct)
    {
        // A repository that cannot be read for a moment (a file renamed under a listing, a network error, a store
        // restarting) delays the start; only what retrying cannot mend (a directory that is not a standby, a
        // repository without the instance) fails it.
        var backoff = _options.Poll;
        while (true)
        {
            try
            {
                await StartCoreAsync(ct).ConfigureAwait(false);
                break;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not StandbyException && IsTransient(ex)) // a StandbyException is a refusal
            {
                _lastError = ex.Message;
                _logger.LogWarning("Standby of {Instance} could not start yet: {Message}; retrying in {Seconds:0.#} s", _options.Instance, ex.Message, backoff.TotalSeconds);
                try
                {
                    await Task.Delay(backoff, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxStartBackoff.Ticks));
            }
            catch (Exception ex)
            {
                _state = "failed";
                _lastError = ex.Message;
                _host.MarkOffline(_options.Instance, $"the warm standby could not start: {ex.Message}");
                _logger.LogError("Standby of {Instance} could not start: {Message}", _options.Instance, ex.Message);
                return;
            }
        }
        if (_state != "following")
        {
            return; // found promoted on an earlier run
        }
        string? told = null;
        var first = true; // the first catch-up right after the start, then one per poll
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!first)
                {
                    await Task.Delay(_options.Poll, ct).ConfigureAwait(false);
                }
                first = false;
                await _lock.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    if (_state != "following")
                    {
                        return; // promoted meanwhile
                    }
                    await CatchUpAsync(ct).ConfigureAwait(false);
                }
                finally
                {
                    _lock.Release();
                }
                if (told is not null)
                {
                    _logger.LogInformation("Standby of {Instance} is following again", _options.Instance);
                    told = null;
                }
                _lastError = null;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                _lastError = ex.Message;
                if (told != ex.Message)
                {
                    told = ex.Message;
                    _logger.LogWarning("Standby of {Instance}: {Message}; retrying", _options.Instance, ex.Message);
                }
            }
        }
    }

    private async Task StartCoreAsync(CancellationToken ct)
    {
        _repo = await _options.OpenRepository(ct).ConfigureAwait(false);
        var state = StandbyState.Read(_dir);
        if (state?.Promoted is not null)
        {
            _host.Mount(_options.Instance, remember: true);
            _state = "promoted";
            return;
        }
        if (state is null)
        {
            if (RestoreRecord.Read(_dir) is { Status: not RestoreStatus.Done })
            {
                // A standby's first restore was interrupted (killed before it could follow): it starts over.
                _logger.LogWarning("Standby of {Instance}: an interrupted first restore in {Directory} is started over", _options.Instance, _dir);
                Directory.Delete(_dir, recursive: true);
            }
            if (Directory.Exists(_dir) && Directory.EnumerateFileSystemEntries(_dir).Any())
            {
                throw new StandbyException($"'{_dir}' is not empty and is not a standby (no {StandbyState.FileName}): the standby will not overwrite it. Give --to an empty or new directory.");
            }
            var plan = await RestorePlanner.PlanAsync(_repo, "latest", _options.Instance, null, liveLogsFollow: false, ct).ConfigureAwait(false);
            _logger.LogInformation("Standby of {Instance}: restoring {Plan}", _options.Instance, RestorePlanner.Describe(plan));
            var location = _repo.Store.Location;
            var sink = new DirectoryRestoreSink(_dir, _options.Instance, replace: false, (_, token) =>
            {
                StandbyApplier.Initialize(_dir, location, token);
                var applied = StandbyApplier.Apply(_dir, null, token, stop: DelayStop());
                _continue = applied.End;
                return new HardRecoveryReport(default, applied.End, applied.Transactions, 0, false, null, applied.LastCommit, null);
            });
            await using (sink.ConfigureAwait(false))
            {
                await RestoreJob.RunAsync(_repo, plan, sink, new RestoreOptions(), null, ct).ConfigureAwait(false);
            }
        }
        else
        {
            _continue = StandbyApplier.Apply(_dir, null, ct, stop: DelayStop()).End; // after a restart: from the persisted restart point
        }
        _fetchedThrough = LogFiles.List(Path.Combine(_dir, StorageInstance.LogDirectoryName)).DefaultIfEmpty(0u).Max();
        _fetchedThrough = Math.Max(_fetchedThrough, StandbyState.Read(_dir)!.AppliedThrough);
        _backlog = Backlog(ct);
        var slot = _host.Slot(_options.Instance)!;
        slot.BringOnline(StorageInstance.OpenStandbyView(_dir, _host.OptionsOf(_options.Instance)));
        _state = "following";
        _logger.LogInformation("Standby of {Instance} is following {Repository} from generation {Generation}", _options.Instance, _repo.Store.Location, StandbyState.Read(_dir)?.AppliedThrough);
    }

    /// <summary>Errors that the next attempt may not meet (reading the repository or the disk): the follow loop
    /// reports them and tries again at its next poll. A plan's refusal is a restore failure (a StorageException)
    /// but not one of them: the first restore's plan fails the start, as it always has.</summary>
    private static bool IsTransient(Exception ex) =>
        ex is not RestorePlanException and (IOException or RepositoryException or HttpRequestException or StorageException or TimeoutException or UnauthorizedAccessException or OperationCanceledException);

    /// <summary>Fetches every shipped generation after the last one fetched (verified whole, then put in place) and
    /// applies what is due with the view closed: everything, or for a lagged standby the commits older than its delay
    /// (record by record, so a generation may be cut), or everything again when its log volume runs low. When
    /// <paramref name="promotion"/> is set, applies down to its stop (null: everything) whatever the delay. The caller
    /// holds the lock.</summary>
    private async Task<int> CatchUpAsync(CancellationToken ct, Promotion? promotion = null)
    {
        var repo = _repo!;
        var record = RestoreRecord.Read(_dir)!;
        var state = StandbyState.Read(_dir)!;
        var signature = record.LogSignatureId.ToString("N");
        var shipped = await repo.ListShippedAsync(_options.Instance, ct).ConfigureAwait(false);
        var own = shipped.Where(k => k.LogSignature == signature).ToList();
        _primaryShippedThrough = own.Count == 0 ? state.AppliedThrough : Math.Max(state.AppliedThrough, own.Max(k => k.Generation));
        var run = ShippedChain.Follow(shipped, _options.Instance, signature, Math.Max(_fetchedThrough, state.AppliedThrough));
        if (run.Count > 0)
        {
            var manifests = await repo.ReadShippedAsync(run, ct).ConfigureAwait(false);
            foreach (var m in manifests)
            {
                var file = SetLayout.LogFilesOf(m).Single();
                using var buffer = new MemoryStream((int)file.Size);
                await SetVerifier.ExtractAsync(repo, m, file, buffer, ct).ConfigureAwait(false); // every chunk's CRC32C and the file's SHA-256
                var bytes = buffer.ToArray();
                WholeGeneration.FromBytes(bytes, m.SetId, m.GenLow, record.LogSignature, "the standby"); // every record, the end record, the stream
                StandbyApplier.AddGeneration(_dir, m.GenLow, bytes);
                _fetchedThrough = m.GenLow;
            }
            _primaryCover = manifests[^1].LogsCover;
        }
        RecoveryStop? stop = null;
        bool durable = DateTime.UtcNow - _lastDurable >= DurableEvery;
        if (promotion is not null)
        {
            stop = promotion.Stop;
        }
        else if (_options.ApplyDelay > TimeSpan.Zero)
        {
            var backlog = Backlog(ct);
            _backlog = backlog;
            if (LogVolumeLow() is { } low)
            {
                if (backlog.Generations == 0)
                {
                    return 0;
                }
                durable = true; // only a durable apply deletes the generations it no longer needs
                Interlocked.Increment(ref _playDowns);
                _logger.LogInformation("Standby of {Instance} plays down {Generations} fetched generations ({Bytes} bytes): {Why}", _options.Instance, backlog.Generations, backlog.Bytes, low);
            }
            else if (backlog.OldestCommit is { } oldest && oldest <= DateTime.UtcNow - _options.ApplyDelay)
            {
                stop = RecoveryStop.AtTime(DateTime.UtcNow - _options.ApplyDelay);
            }
            else
            {
                return 0; // nothing old enough yet
            }
        }
        else if (run.Count == 0)
        {
            return 0;
        }
        var slot = _host.Slot(_options.Instance)!;
        var what = $"{InstanceSlot.StandbyApplyPrefix}generations {state.AppliedThrough + 1}-{_fetchedThrough}{(stop is null ? "" : $" up to {stop}")}";
        if (!slot.TryTakeOffline(Drain, what))
        {
            if (promotion is not null)
            {
                throw new StandbyException($"Instance '{_options.Instance}' still had requests running after {Drain.TotalSeconds:0} s; it was not promoted. Retry.");
            }
            return 0; // a long read is inside: the generations are in place, applied on the next round
        }
        try
        {
            // Durable (pages flushed, restart point moved) every few seconds, not at every generation: fsyncing
            // every apply cost a third of the apply rate.
            _continue = StandbyApplier.Apply(_dir, _continue, ct, durable, stop).End;
            if (durable)
            {
                _lastDurable = DateTime.UtcNow;
            }
        }
        finally
        {
            slot.BringOnline(StorageInstance.OpenStandbyView(_dir, _host.OptionsOf(_options.Instance)));
        }
        if (_options.ApplyDelay > TimeSpan.Zero)
        {
            _backlog = Backlog(ct);
        }
        return run.Count;
    }

    /// <summary>A lagged standby's stop point now: the commits of the last <see cref="StandbyOptions.ApplyDelay"/>
    /// stay unapplied. Null when it is not lagged, or while its log volume is low (it plays down).</summary>
    private RecoveryStop? DelayStop() =>
        _options.ApplyDelay <= TimeSpan.Zero || LogVolumeLow() is not null ? null : RecoveryStop.AtTime(DateTime.UtcNow - _options.ApplyDelay);

    /// <summary>Why the log volume is too low for a lagged standby to hold its delay (recorded for status), or null.</summary>
    private string? LogVolumeLow()
    {
        if (_options.ApplyDelay <= TimeSpan.Zero)
        {
            return null;
        }
        var (free, total) = FileSystem.VolumeSpace(Path.Combine(_dir, StorageInstance.LogDirectoryName));
        string? low = total > 0 && free < _options.MinLogFree
            ? $"the log volume has {free} bytes free, below --min-log-free {_options.MinLogFree}: the delay is not held until space comes back"
            : null;
        if (low is null && _playDown is not null)
        {
            _logger.LogInformation("Standby of {Instance} holds its apply delay again: its log volume has {Free} bytes free", _options.Instance, free);
        }
        else if (low is not null && _playDown is null)
        {
            _logger.LogWarning("Standby of {Instance} plays down early: {Why}", _options.Instance, low);
        }
        _playDown = low;
        return low;
    }

    private StandbyBacklog Backlog(CancellationToken ct)
    {
        if (_options.ApplyDelay <= TimeSpan.Zero)
        {
            return StandbyBacklog.None;
        }
        var end = _continue ?? Lsn.FromValue(StandbyState.Read(_dir)!.End);
        return StandbyBacklog.Of(_dir, end, ct);
    }

    /// <summary>Where a promotion stops: null to apply everything shipped.</summary>
    public sealed record Promotion(RecoveryStop? Stop);

    /// <summary>Applies what the repository holds (a failure to reach it is said, and what was applied is used), down
    /// to <paramref name="stop"/> when given (the way back from a bad write on a lagged standby), starts a new log
    /// stream and opens the instance writable.</summary>
    public async Task<PromoteResponse> PromoteAsync(RecoveryStop? stop, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_state != "following")
            {
                throw new StandbyException(_state == "promoted"
                    ? $"Instance '{_options.Instance}' was already promoted: it is a primary."
                    : $"Instance '{_options.Instance}' cannot be promoted while the standby is {_state}{(_lastError is { } e ? $" ({e})" : "")}.");
            }
            if (stop is not null && StandbyState.Read(_dir) is { } applied && PastStop(applied, stop) is { } past)
            {
                throw new StandbyException($"Instance '{_options.Instance}' cannot be promoted to {stop}: the standby has applied past it ({past}), and replay cannot go back. Promote to a later point, or restore a set from before it ('blueback restore --stop-at').");
            }
            _state = "promoting";
            string? warning = null;
            try
            {
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
                bound.CancelAfter(TimeSpan.FromSeconds(20));
                await CatchUpAsync(bound.Token, new Promotion(stop)).ConfigureAwait(false);
            }
            catch (StandbyException)
            {
                _state = "following";
                throw;
            }
            catch (Exception ex) when (ex is IOException or RepositoryException or HttpRequestException or TimeoutException or OperationCanceledException)
            {
                warning = $"the repository could not be read for the last generations ({ex.Message}); promoted with what was applied";
            }
            var slot = _host.Slot(_options.Instance)!;
            if (!slot.TryTakeOffline(Drain, $"{InstanceSlot.StandbyApplyPrefix}promotion"))
            {
                _state = "following";
                throw new StandbyException($"Instance '{_options.Instance}' still had requests running after {Drain.TotalSeconds:0} s; it was not promoted. Retry.");
            }
            var state = StandbyState.Read(_dir)!;
            Signature newSignature;
            try
            {
                newSignature = StandbyApplier.Promote(_dir);
                _host.Mount(_options.Instance, remember: true);
            }
            catch
            {
                _state = "failed";
                throw;
            }
            _state = "promoted";
            _backlog = StandbyBacklog.None;
            _logger.LogWarning("Standby of {Instance} promoted: it is a primary now, of the new log stream {Signature} (applied through generation {Generation})", _options.Instance, newSignature.Id.ToString("N"), state.AppliedThrough);
            return new PromoteResponse
            {
                Instance = _options.Instance,
                AppliedThrough = state.AppliedThrough,
                LastCommit = state.LastCommit,
                NewLogSignature = newSignature.Id.ToString("N"),
                Stop = stop?.ToString(),
                AppliedPosition = Lsn.FromValue(state.End).ToString(),
                Seconds = sw.Elapsed.TotalSeconds,
                Warning = warning,
            };
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>What the standby applied past a promotion's stop point, or null when it did not.</summary>
    private static string? PastStop(StandbyState applied, RecoveryStop stop)
    {
        if (stop.Time is { } t && applied.LastCommit is { } last && last > t)
        {
            return $"its last commit applied is of {last:O}";
        }
        return stop.Lsn is { } l && Lsn.FromValue(applied.End) > l ? $"it stands at {Lsn.FromValue(applied.End)}" : null;
    }

    public StandbyStatus Status()
    {
        StandbyState? state = null;
        RestoreRecord? record = null;
        try
        {
            state = StandbyState.Read(_dir);
            record = RestoreRecord.Read(_dir);
        }
        catch (StorageException ex)
        {
            _lastError ??= ex.Message;
        }
        var lastCommit = state?.LastCommit;
        var backlog = _backlog;
        return new StandbyStatus
        {
            State = _state,
            Repository = _repo?.Store.Location ?? state?.Repository ?? "",
            LogSignature = record?.LogSignatureId.ToString("N") ?? "",
            AppliedThrough = state?.AppliedThrough ?? 0,
            AppliedPosition = state is null ? "" : Lsn.FromValue(state.End).ToString(),
            LastCommit = lastCommit,
            LastApplied = state?.LastApplied,
            TransactionsApplied = state?.TransactionsApplied ?? 0,
            PrimaryShippedThrough = _primaryShippedThrough,
            LagGenerations = state is null ? 0 : Math.Max(0, (long)_primaryShippedThrough - state.AppliedThrough),
            LagSeconds = _primaryCover is { } c && lastCommit is { } l && c > l && _primaryShippedThrough > (state?.AppliedThrough ?? 0) ? Math.Round((c - l).TotalSeconds, 3) : 0,
            LastError = _lastError,
            Promoted = state?.Promoted,
            NewLogSignature = state?.NewLogSignature,
            ApplyDelaySeconds = _options.ApplyDelay.TotalSeconds,
            WaitingGenerations = backlog.Generations,
            WaitingBytes = backlog.Bytes,
            OldestWaitingCommit = backlog.OldestCommit,
            HeldSeconds = backlog.OldestCommit is { } o ? Math.Max(0, Math.Round((DateTime.UtcNow - o).TotalSeconds, 3)) : 0,
            PlayDown = _playDown,
            PlayDowns = Interlocked.Read(ref _playDowns),
        };
    }

    public void Dispose()
    {
        _meter.Dispose();
        _stop.Cancel();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(10)); // a running apply finishes its batch; a restore is cancelled
        }
        catch (AggregateException)
        {
            // its failure was logged
        }
        _stop.Dispose();
    }
}
