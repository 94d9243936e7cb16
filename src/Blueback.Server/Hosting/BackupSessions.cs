using Blueback.Protocol;
using Blueback.Storage;
using Blueback.Storage.Backup;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Hosting;

/// <summary>One running backup as the server sees it: the engine's backup plus a lease that every call renews.</summary>
public sealed class BackupSession(InstanceBackup backup, TimeSpan lease, string? clientId = null)
{
    private long _expiresTicks = DateTime.UtcNow.Add(lease).Ticks;

    public InstanceBackup Backup { get; } = backup;
    public string Id { get; } = clientId ?? backup.Id.ToString("N");
    public TimeSpan Lease { get; } = lease;
    public string? Error { get; set; }
    public string? AbortReason { get; private set; }
    public bool Expired => DateTime.UtcNow.Ticks > Interlocked.Read(ref _expiresTicks);

    public void Renew() => Interlocked.Exchange(ref _expiresTicks, DateTime.UtcNow.Add(Lease).Ticks);

    public void Abort(string reason)
    {
        AbortReason ??= reason;
        Backup.Abort();
    }

    public BackupSessionInfo Info(StorageInstance instance) => new()
    {
        Id = Id,
        Instance = Backup.InstanceName,
        Type = Backup.Type.ToString().ToLowerInvariant(),
        State = Backup.State.ToString().ToLowerInvariant(),
        Started = Backup.Started,
        GenLow = Backup.GenLow,
        GenHigh = Backup.GenHigh,
        LeaseSeconds = Lease.TotalSeconds,
        LogSignature = instance.LogSignature.Id.ToString("N"),
        Databases = Backup.Databases.Select(d => new BackupDatabaseInfo
        {
            Name = d.Name,
            Id = d.Id,
            Signature = d.Signature.Id.ToString("N"),
            PageSize = d.PageSize,
            ImageSize = d.ImageSize,
        }).ToList(),
        Error = Error ?? AbortReason,
    };
}

/// <summary>The server's backup sessions: created, found, renewed, and aborted when their client goes quiet
/// (lease) or drops a stream, or when the server stops.</summary>
public sealed class BackupSessions : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, BackupSession> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BackupSession> _finished = new(StringComparer.Ordinal);
    private readonly LeaseReaper _reaper;
    private readonly ILogger _logger;
    private int _disposed;

    public BackupSessions(TimeSpan lease, ILogger logger)
    {
        Lease = lease;
        _logger = logger;
        _reaper = new LeaseReaper(() =>
        {
            foreach (var s in Running().Where(s => s.Expired))
            {
                Abort(s, $"no call from the client for {s.Lease.TotalSeconds:0.#} s (lease expired)");
            }
        });
    }

    public TimeSpan Lease { get; }

    /// <summary>Backup sessions running at once over all instances (each instance also allows only one).</summary>
    public int MaxRunning { get; init; } = 8;

    public BackupSession Begin(StorageInstance instance, BackupType type, string? clientId = null)
    {
        lock (_lock)
        {
            if (clientId is not null && (_sessions.ContainsKey(clientId) || _finished.ContainsKey(clientId)))
            {
                throw new BackupRefusedException($"A backup session with id {clientId} already exists; choose a new id.");
            }
            if (_sessions.Values.Count(s => !s.Backup.IsFinished) >= MaxRunning)
            {
                throw new BackupRefusedException($"{MaxRunning} backup sessions are running already (the server's limit, limits.maxBackupSessions); retry when one has ended.");
            }
        }
        var backup = instance.BeginBackup(type);
        var session = new BackupSession(backup, Lease, clientId);
        backup.TransientRead = (db, page, retries) =>
            _logger.LogWarning("Backup {Id}: pages from {Page} of database {Database} failed verification and read correctly after {Retries} retries (transient)", session.Id, page, db, retries);
        lock (_lock)
        {
            _sessions[session.Id] = session;
        }
        _logger.LogInformation("Backup {Id} ({Type}) of instance {Instance} begun at generation {GenLow}", session.Id, type, instance.Name, backup.GenLow);
        return session;
    }

    /// <summary>A running session (renewed), or a finished one that is kept for a while so that late calls get a
    /// clear answer.</summary>
    public BackupSession? Find(string id, out bool finished)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(id, out var s))
            {
                if (s.Backup.IsFinished)
                {
                    Retire(s);
                    finished = true;
                    return s;
                }
                s.Renew();
                finished = false;
                return s;
            }
            finished = _finished.TryGetValue(id, out s);
            return s;
        }
    }

    public List<BackupSession> Running()
    {
        lock (_lock)
        {
            return _sessions.Values.Where(s => !s.Backup.IsFinished).ToList();
        }
    }

    public void Abort(BackupSession session, string reason)
    {
        session.Abort(reason);
        lock (_lock)
        {
            Retire(session);
        }
        _logger.LogWarning("Backup {Id} of instance {Instance} aborted: {Reason}", session.Id, session.Backup.InstanceName, reason);
    }

    public void Finished(BackupSession session)
    {
        lock (_lock)
        {
            Retire(session);
        }
    }

    private void Retire(BackupSession s)
    {
        _sessions.Remove(s.Id);
        _finished[s.Id] = s;
        if (_finished.Count > 100)
        {
            foreach (var old in _finished.Values.OrderBy(x => x.Backup.Started).Take(_finished.Count - 100).ToList())
            {
                _finished.Remove(old.Id);
            }
        }
    }

    /// <summary>Aborts every running session (server shutdown) and stops the lease timer, within a bound.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        foreach (var s in Running())
        {
            Abort(s, "the server is shutting down");
        }
        _reaper.Dispose();
    }
}
