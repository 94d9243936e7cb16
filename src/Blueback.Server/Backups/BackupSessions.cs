using Blueback.Server.Sessions;
using Blueback.Storage;
using Blueback.Storage.Backup;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Backups;

/// <summary>The server's backup sessions: begun, found, and aborted when their client goes quiet (lease) or drops
/// a stream, or when the server stops.</summary>
public sealed class BackupSessions : IDisposable
{
    private readonly LeasedSessions<HostedBackup> _sessions;
    private readonly ILogger _logger;

    public BackupSessions(TimeSpan lease, ILogger logger, int maxRunning = 8)
    {
        Lease = lease;
        _logger = logger;
        _sessions = new LeasedSessions<HostedBackup>("backup", "limits.maxBackupSessions", maxRunning, m => new BackupRefusedException(m), Abort);
    }

    public TimeSpan Lease { get; }

    public HostedBackup Begin(StorageInstance instance, BackupType type, string? clientId = null, uint? changedSince = null)
    {
        // One begin per instance at a time, up to its session: a begin takes a checkpoint first, and a client that gave
        // up on one (and aborted its id) and begins again at once must find it aborted, not an engine backup that no
        // session holds yet.
        var gate = _beginning.GetOrAdd(instance.Name, _ => new object());
        if (!Monitor.TryEnter(gate, BeginBound))
        {
            throw new BackupRefusedException($"Another backup of instance '{instance.Name}' has been beginning for {BeginBound.TotalSeconds:0} s (its checkpoint is slow); try again shortly.");
        }
        try
        {
            return BeginOne(instance, type, clientId, changedSince);
        }
        finally
        {
            Monitor.Exit(gate);
        }
    }

    private static readonly TimeSpan BeginBound = TimeSpan.FromSeconds(30);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, object> _beginning = new(StringComparer.Ordinal);

    private HostedBackup BeginOne(StorageInstance instance, BackupType type, string? clientId, uint? changedSince)
    {
        _sessions.CheckRoom(clientId);
        InstanceBackup backup;
        try
        {
            backup = instance.BeginBackup(type, changedSince);
        }
        catch (BackupRefusedException) when (Running().FirstOrDefault(s => s.Backup.InstanceName == instance.Name) is { } running)
        {
            // The engine names its own backup id; the client knows the session's.
            throw new BackupRefusedException($"A {running.Backup.Type.Name()} backup of instance '{instance.Name}' is already running (session {running.Id}, begun {running.Started:O}). Only one backup per instance runs at a time: end or abort it (DELETE /v1/backups/{running.Id}), or wait for its lease to expire ({running.Lease.Length.TotalSeconds:0.#} s without a call from its client).");
        }
        var session = new HostedBackup(backup, Lease, clientId);
        backup.TransientRead = (db, page, retries) =>
            _logger.LogWarning("Backup {Id}: pages from {Page} of database {Database} failed verification and read correctly after {Retries} retries (transient)", session.Id, page, db, retries);
        backup.BufferedReads = (db, path, reason) =>
            _logger.LogWarning("Backup {Id}: reads of database {Database} ('{Path}') around the page cache failed ({Reason}); they go through the cache from here on (slower, and they evict cached pages)", session.Id, db, path, reason);
        try
        {
            _sessions.Add(session);
        }
        catch (BackupRefusedException)
        {
            backup.Abort();
            throw;
        }
        _logger.LogInformation("Backup {Id} ({Type}{Pages}) of instance {Instance} begun at generation {GenLow}", session.Id, type.Name(), changedSince is { } since ? $", pages changed since generation {since}" : "", instance.Name, backup.GenLow);
        return session;
    }

    /// <summary>A running session (renewed), or a finished one that is kept for a while so that late calls get a
    /// clear answer.</summary>
    public HostedBackup? Find(string id) => _sessions.Find(id);

    public List<HostedBackup> Running() => _sessions.Running();

    /// <summary>A client's abort of <paramref name="id"/>: its session is aborted, or, with no session of that id
    /// (its begin may still be on its way), a begin with that id is refused from now on.</summary>
    public void AbortByClient(string id)
    {
        if (_sessions.FindForAbort(id, out bool newlyKept) is { } session)
        {
            Abort(session, "aborted by its client");
        }
        else if (newlyKept)
        {
            _logger.LogInformation("Backup {Id} aborted by its client with no session of that id (its begin may be on its way): a begin with that id is refused", id);
        }
    }

    public void Abort(HostedBackup session, string reason)
    {
        if (session.IsFinished)
        {
            return;
        }
        session.Abort(reason);
        _logger.LogWarning("Backup {Id} of instance {Instance} aborted: {Reason}", session.Id, session.Backup.InstanceName, reason);
    }

    /// <summary>A stream of the session failed on the server (a damaged page, a read error): the session keeps the
    /// reason for its client, and the server's log names the database, page and remedy.</summary>
    public void StreamFailed(HostedBackup session, string what, Exception error)
    {
        session.Error = error.Message;
        _logger.LogError("Backup {Id} of instance {Instance}: reading {What} failed: {Error}", session.Id, session.Backup.InstanceName, what, error.Message);
    }

    /// <summary>Aborts every running session (server shutdown) and stops the lease timer, within a bound.</summary>
    public void Dispose() => _sessions.Dispose();
}
