using Blueback.Backup;
using Blueback.Protocol;
using Blueback.Server.Backups;
using Blueback.Server.Instances;
using Blueback.Server.Sessions;
using Blueback.Storage;
using Blueback.Storage.Restore;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Restores;

/// <summary>The server's restore sessions: begun (the instance claimed, taken offline for a replace), fed files,
/// recovered in the background and mounted, or aborted (by the client, an expired lease, or server shutdown) with
/// the instance left as the issue demands: untouched if nothing was written, otherwise offline with its restore
/// record saying what happened.</summary>
public sealed class RestoreSessions : IDisposable
{
    /// <summary>How long an in-place restore waits for the requests inside the instance to leave.</summary>
    private static readonly TimeSpan Drain = TimeSpan.FromSeconds(5);
    /// <summary>How long an abort waits for an upload or recovery to notice its cancellation.</summary>
    private static readonly TimeSpan AbortWait = TimeSpan.FromSeconds(2);

    private readonly LeasedSessions<HostedRestore> _sessions;
    private readonly InstanceHost _host;
    private readonly BackupSessions _backups;
    private readonly ILogger _logger;

    /// <param name="maxRunning">Restore sessions running at once; one more is refused (409) until one ends.</param>
    public RestoreSessions(InstanceHost host, BackupSessions backups, TimeSpan lease, ILogger logger, int maxRunning = 4)
    {
        _host = host;
        _backups = backups;
        Lease = lease;
        _logger = logger;
        _sessions = new LeasedSessions<HostedRestore>("restore", "limits.maxRestoreSessions", maxRunning, m => new RestoreConflictException(m), Abort);
    }

    public TimeSpan Lease { get; }

    public HostedRestore Begin(string instance, bool replace, BeginRestoreRequest req, string? clientId)
    {
        var id = clientId ?? Guid.NewGuid().ToString("N");
        var record = new RestoreRecord
        {
            Repository = req.Repository,
            Sets = [.. req.Sets],
            SourceInstance = req.SourceInstance,
            SourceServer = req.SourceServer,
            GenLow = req.GenLow,
            GenHigh = req.GenHigh,
            ConsistentAfter = req.ConsistentAfter,
            Stop = req.Stop is null ? null : RecoveryStop.Parse(req.Stop).ToString(),
            PlayForward = req.PlayForward,
            UpToContiguous = req.UpToContiguous,
            Created = DateTime.UtcNow,
        };
        _sessions.CheckRoom(id);
        if (replace)
        {
            foreach (var b in _backups.Running().Where(b => b.Backup.InstanceName == instance))
            {
                _backups.Abort(b, $"instance '{instance}' is being restored in place (restore {id})");
            }
        }
        bool wasOnline = _host.BeginRestore(instance, replace, id, Drain);
        var session = new HostedRestore(id, instance, replace, wasOnline, record, Lease);
        try
        {
            _sessions.Add(session);
        }
        catch (RestoreConflictException ex)
        {
            Abort(session, ex.Message); // nothing written yet: the instance goes back as it was
            throw;
        }
        _logger.LogInformation("Restore {Id} of sets {Sets} into instance {Instance} ({Mode}) begun", id, string.Join(", ", record.Sets), instance, replace ? "in place" : "new");
        return session;
    }

    public HostedRestore? Find(string id) => _sessions.Find(id);

    public List<HostedRestore> Running() => _sessions.Running();

    /// <summary>A client's abort of <paramref name="id"/>: its session is aborted, or, with no session of that id
    /// (its begin may still be on its way), a begin with that id is refused from now on; one step (see
    /// <see cref="LeasedSessions{T}.FindForAbort"/>).</summary>
    public void AbortByClient(string id)
    {
        if (_sessions.FindForAbort(id, out _) is { } session)
        {
            Abort(session, "aborted by its client");
        }
    }

    /// <summary>Writes one file of the restore from <paramref name="body"/>. The first write prepares the instance
    /// directory (for a replace, its database files are moved aside there, not before).</summary>
    /// <param name="framed">The body is the file's chunks as chunk frames (<see cref="FramedUpload"/>), which
    /// <paramref name="chunkSizes"/> must then describe.</param>
    public async Task WriteAsync(HostedRestore s, string? database, uint generation, long size, string sha256, Stream body, CancellationToken requestAborted, IReadOnlyList<int>? chunkSizes = null, bool changedPages = false, bool framed = false)
    {
        if (!await s.WriteGate.WaitAsync(0, requestAborted).ConfigureAwait(false))
        {
            throw new RestoreSequenceException($"Restore {s.Id} is already receiving a file; send its files one at a time.");
        }
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, s.Stop.Token);
            lock (s.Sync)
            {
                if (s.State != RestoreSessionState.Receiving)
                {
                    throw new RestoreSequenceException(s.State == RestoreSessionState.Recovering
                        ? $"Restore {s.Id} is recovering; files can no longer be added. Begin a new restore to change what is restored."
                        : $"Restore {s.Id} has ended ({s.State.ToString().ToLowerInvariant()}{(s.Error is null ? "" : $": {s.Error}")}). Begin a new one.");
                }
                if (s.Writer is null)
                {
                    if (!s.Replace)
                    {
                        _host.AddRestoredName(s.Instance);
                    }
                    s.Writer = RestoreWriter.Begin(_host.DirectoryOf(s.Instance), s.Record, s.Replace);
                }
            }
            var file = database is null ? $"log generation {generation}" : changedPages ? $"changed pages of database {database}" : $"database {database}";
            Func<Stream, CancellationToken, Task> copy = framed
                ? (sink, ct) => FramedUpload.CopyAsync(s, file, body, sink, chunkSizes!, sha256, ct)
                : (sink, ct) => CopyAsync(s, body, sink, size, ct);
            var check = framed ? null : ChunkDigestCheck.For(chunkSizes);
            string? expected = framed ? null : sha256; // framed: each chunk's hash and the digest are checked as the frames arrive
            if (database is not null && changedPages)
            {
                await s.Writer.ApplyChangedPagesAsync(database, size, expected, copy, cts.Token, check).ConfigureAwait(false);
            }
            else if (database is not null)
            {
                await s.Writer.WriteDatabaseAsync(database, size, expected, copy, cts.Token, check).ConfigureAwait(false);
            }
            else
            {
                await s.Writer.WriteLogAsync(generation, size, expected, copy, cts.Token, check).ConfigureAwait(false);
            }
            s.FileDone();
        }
        finally
        {
            s.WriteGate.Release();
        }
    }

    private static async Task CopyAsync(HostedRestore s, Stream body, Stream sink, long size, CancellationToken ct)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            long total = 0;
            int n;
            while (total < size && (n = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, size - total)), ct).ConfigureAwait(false)) > 0)
            {
                await sink.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                total += n;
                s.Wrote(n);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Every file is in: checks the whole, then runs hard recovery in the background and mounts the
    /// instance when it is done. The client follows with GET until the state is done or failed.</summary>
    public void StartRecovery(HostedRestore s)
    {
        if (!s.WriteGate.Wait(0))
        {
            throw new RestoreSequenceException($"Restore {s.Id} is still receiving a file; ask for recovery once every upload has been answered.");
        }
        try
        {
            lock (s.Sync)
            {
                if (s.State != RestoreSessionState.Receiving)
                {
                    throw new RestoreSequenceException($"Restore {s.Id} is {s.State.ToString().ToLowerInvariant()}; recovery can be asked for once, after the files.");
                }
                if (s.Writer is null)
                {
                    throw new RestoreSequenceException($"Restore {s.Id} has received no file yet: send the database images and log generations first.");
                }
                s.Writer.Complete();
                s.Writer.Dispose(); // recovery takes the instance lock itself
                s.Writer = null;
                s.State = RestoreSessionState.Recovering;
                s.Phase = "starting hard recovery";
            }
        }
        finally
        {
            s.WriteGate.Release();
        }
        var dir = _host.DirectoryOf(s.Instance);
        var options = _host.OptionsOf(s.Instance);
        s.Recovery = Task.Run(() =>
        {
            try
            {
                var report = HardRecovery.Run(dir, options, phase => s.Phase = phase, s.Stop.Token);
                _host.Mount(s.Instance, remember: !s.Replace);
                lock (s.Sync)
                {
                    s.Report = report;
                    s.Phase = null;
                    s.State = RestoreSessionState.Done;
                }
                _logger.LogInformation("Restore {Id}: instance {Instance} recovered to {End} ({Transactions} transactions replayed) and online", s.Id, s.Instance, report.End, report.TransactionsReplayed);
            }
            catch (Exception ex)
            {
                var why = ex is OperationCanceledException ? $"stopped ({s.Error ?? "aborted"}) during hard recovery" : ex.Message;
                lock (s.Sync)
                {
                    s.Error ??= why;
                    if (s.State == RestoreSessionState.Recovering)
                    {
                        s.State = RestoreSessionState.Failed;
                    }
                }
                _host.MarkOffline(s.Instance, $"restore {s.Id} did not finish: {why}; its restore record says where it stopped; run the restore again");
                _logger.LogError("Restore {Id} of instance {Instance} failed in hard recovery: {Error}", s.Id, s.Instance, why);
            }
        });
    }

    /// <summary>Aborts a running session (idempotent). Before any write the instance is as it was (online again for
    /// a replace, forgotten for a new one); after, it stays offline with its record marked failed.</summary>
    public void Abort(HostedRestore s, string reason)
    {
        lock (s.Sync)
        {
            if (s.IsFinished)
            {
                return;
            }
            s.Error = reason;
        }
        s.Stop.Cancel();
        if (s.State == RestoreSessionState.Recovering)
        {
            lock (s.Sync)
            {
                s.State = RestoreSessionState.Aborted;
            }
            if (s.Recovery is { } r && !r.Wait(AbortWait))
            {
                _logger.LogWarning("Restore {Id}: hard recovery had not stopped {Seconds} s after the abort; it stops at its next check", s.Id, AbortWait.TotalSeconds);
            }
            _logger.LogWarning("Restore {Id} of instance {Instance} aborted during recovery: {Reason}", s.Id, s.Instance, reason);
            return;
        }
        bool gate = s.WriteGate.Wait(AbortWait); // an upload in flight sees the cancellation and leaves
        try
        {
            lock (s.Sync)
            {
                if (s.IsFinished || s.State == RestoreSessionState.Recovering)
                {
                    return;
                }
                s.State = RestoreSessionState.Aborted;
                if (s.Writer is { } w)
                {
                    w.Fail($"restore {s.Id} stopped while files were being written: {reason}");
                    w.Dispose();
                    s.Writer = null;
                    _host.MarkOffline(s.Instance, $"restore {s.Id} was stopped ({reason}) after it began writing; run the restore again");
                }
                else if (s.WasOnline)
                {
                    try
                    {
                        _host.Mount(s.Instance, remember: false); // nothing was written: the instance is as it was
                    }
                    catch (Exception ex) when (ex is StorageException or IOException)
                    {
                        _host.MarkOffline(s.Instance, $"it could not be opened again after restore {s.Id} was stopped: {ex.Message}");
                        _logger.LogError("Restore {Id}: instance {Instance} could not be reopened after the abort: {Error}", s.Id, s.Instance, ex.Message);
                    }
                }
                else if (s.Replace || Directory.Exists(Path.Combine(_host.DirectoryOf(s.Instance), StorageInstance.LogDirectoryName)))
                {
                    _host.MarkOffline(s.Instance, $"restore {s.Id} was stopped ({reason}) before it wrote anything; the instance was already offline");
                }
                else
                {
                    _host.Forget(s.Instance);
                }
            }
        }
        finally
        {
            if (gate)
            {
                s.WriteGate.Release();
            }
        }
        _logger.LogWarning("Restore {Id} of instance {Instance} aborted: {Reason}", s.Id, s.Instance, reason);
    }

    /// <summary>Aborts every running session (server shutdown) within a bound, before the instances close.</summary>
    public void Dispose() => _sessions.Dispose();
}

/// <summary>A restore call out of order (409).</summary>
public sealed class RestoreSequenceException(string message) : RestoreException(message);
