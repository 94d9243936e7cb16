using Blueback.Protocol;
using Blueback.Server.Instances;
using Blueback.Server.Sessions;
using Blueback.Storage;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Loads;

/// <summary>The staged loads of a server (granular restores): their rows wait in DATA/loads/ until a commit applies
/// them in one transaction. Leases, the limit on how many run and shutdown are those of every session kind
/// (<see cref="LeasedSessions{T}"/>); what a crash left staged is removed at start.</summary>
internal sealed class LoadSessions : IDisposable
{
    public const string DirectoryName = "loads";
    private readonly InstanceHost _host;
    private readonly TimeSpan _lease;
    private readonly ILogger _logger;
    private readonly LeasedSessions<HostedLoad> _sessions;
    private readonly string _directory;

    public LoadSessions(InstanceHost host, TimeSpan lease, ILogger logger, int maxRunning)
    {
        _host = host;
        _lease = lease;
        _logger = logger;
        _directory = Path.Combine(host.DataDirectory, DirectoryName);
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true); // rows staged before a crash or a restart: never committed
        }
        _sessions = new LeasedSessions<HostedLoad>("load", "limits.maxRestoreSessions", maxRunning, m => new LoadStateException(m), (s, why) => Abort(s, why));
    }

    /// <summary>Begins a load into <paramref name="instance"/>, bounded by what one transaction of it may hold.</summary>
    public HostedLoad Begin(StorageInstance instance, BeginLoadRequest request)
    {
        _sessions.CheckRoom(null);
        Directory.CreateDirectory(_directory);
        var id = Guid.NewGuid().ToString("N");
        var load = new HostedLoad(id, instance.Name, request, Path.Combine(_directory, id + ".rows"), instance.Options.CacheSize / 4, _lease);
        _logger.LogInformation("Load {Id} began: {Mode} {Scope} of database {Database} in instance {Instance}", id, request.Mode,
            request.Table is null ? "every table" : $"table {request.Table}", request.Database, instance.Name);
        return _sessions.Add(load);
    }

    public HostedLoad? Find(string id) => _sessions.Find(id);

    public void Abort(HostedLoad load, string why)
    {
        if (!load.IsFinished)
        {
            _logger.LogWarning("Load {Id} aborted: {Why}", load.Id, why);
        }
        load.Abort(why);
    }

    public void Committed(HostedLoad load, LoadCommitResponse r) =>
        _logger.LogInformation("Load {Id} committed into instance {Instance}: {Rows} rows ({Bytes} bytes) put, {Deleted} live keys deleted first, commit at {Lsn}",
            load.Id, load.Instance, r.Rows, r.Bytes, r.Deleted, r.CommitLsn);

    public InstanceHost Host => _host;

    public void Dispose() => _sessions.Dispose();
}
