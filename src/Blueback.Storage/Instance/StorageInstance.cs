using Blueback.Storage.ChangedPages;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Recovery;
using Blueback.Storage.Transactions;

namespace Blueback.Storage;

/// <summary>An instance: one log stream (numbered generations in <c>logs/</c>), one checkpoint file, and the
/// databases attached to it. Several instances may live in one process; each has its own threads.</summary>
public sealed partial class StorageInstance : IDisposable
{
    public const string LogDirectoryName = "logs";
    public const string DatabaseExtension = ".bdb";

    private readonly SemaphoreSlim _writer = new(1, 1);
    private readonly Lock _dbLock = new();
    private readonly Dictionary<ushort, Database> _databases = new();
    private readonly Snapshots _snapshots;
    private LogWriter _log = null!;
    private Blueback.Storage.Log.LogRetirement? _retirement;
    private PageSummaries? _summaries;
    private long _sequence;
    private volatile Exception? _poison;
    private volatile bool _closed;
    private readonly IDisposable _directoryLock;

    private StorageInstance(string directory, InstanceOptions options, Signature logSignature)
    {
        Directory = Path.GetFullPath(directory);
        Options = options;
        Name = options.Name ?? Path.GetFileName(Directory.TrimEnd(Path.DirectorySeparatorChar));
        LogSignature = logSignature;
        _directoryLock = InstanceLock.Acquire(Directory);
        _shipping = new global::Blueback.Storage.Shipping.LogShipping(this);
        _backups = new global::Blueback.Storage.Backup.OnlineBackups(this);
        _snapshots = new Snapshots(0);
        if (options.PageRepair is { } source)
        {
            _pageRepair = new Repair.PageRepair(Name, LogDirectory, logSignature, source, options.PageRepairTimeout);
        }
        Cache = new BufferCache(options.CacheSize, _snapshots, FileOf, lsn => _log.FlushTo(lsn, Options.WaitTimeout), _pageRepair is null ? null : RepairPage);
    }

    private readonly Repair.PageRepair? _pageRepair;

    /// <summary>Pages that failed their checksum in a read and were repaired from <see cref="InstanceOptions.PageRepair"/>.</summary>
    public long PagesRepaired => _pageRepair?.Repaired ?? 0;

    private byte[] RepairPage(ushort id, uint page, PageCorruptException damage)
    {
        var db = Databases.FirstOrDefault(d => d.Id == id);
        if (db is null || _standby is not null)
        {
            throw damage; // a standby's view repairs nothing: it is itself a source
        }
        return _pageRepair!.Run(id, db.Name, db.Signature, db.File, page, damage);
    }

    public string Name { get; }
    public string Directory { get; }
    public string LogDirectory => Path.Combine(Directory, LogDirectoryName);
    public string CheckpointPath => Path.Combine(Directory, CheckpointFile.FileName);
    public InstanceOptions Options { get; }
    public Signature LogSignature { get; }
    internal BufferCache Cache { get; }

    /// <summary>The page summaries of the closed generations, which changed-pages backups read (null on a standby,
    /// which takes no backup).</summary>
    internal PageSummaries? Summaries => _summaries;

    /// <summary>The position crash recovery would start from.</summary>
    public Lsn CheckpointLsn => _checkpoint;

    /// <summary>Where the next log record goes.</summary>
    public Lsn LogPosition => _log?.AppendPosition ?? StandbyEnd;

    /// <summary>Everything before this position is on disk.</summary>
    public Lsn FlushedLsn => _log?.FlushedLsn ?? StandbyEnd;

    public uint CurrentGeneration => _log?.CurrentGeneration ?? StandbyEnd.Generation;

    private Lsn StandbyEnd => _standby is { } s ? Lsn.FromValue(s.End) : default;

    public bool IsPoisoned => _poison is not null;

    /// <summary>What the last open found and did.</summary>
    public RecoveryReport? LastRecovery { get; private set; }

    public IReadOnlyList<Database> Databases
    {
        get
        {
            lock (_dbLock)
            {
                return _databases.Values.OrderBy(d => d.Id).ToList();
            }
        }
    }

    public Database GetDatabase(string name) =>
        TryGetDatabase(name) ?? throw new StorageException($"Instance '{Name}' has no database named '{name}'. Attached: {string.Join(", ", Databases.Select(d => d.Name))}.");

    public Database? TryGetDatabase(string name)
    {
        lock (_dbLock)
        {
            return _databases.Values.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.Ordinal));
        }
    }

    private DatabaseFile FileOf(ushort id)
    {
        lock (_dbLock)
        {
            return _databases.TryGetValue(id, out var db)
                ? db.File
                : throw new DatabaseStateException($"Database id {id} is not attached to instance '{Name}'.");
        }
    }

    /// <summary>Creates a new, empty instance in <paramref name="directory"/> (which must not hold one).</summary>
    public static StorageInstance Create(string directory, InstanceOptions? options = null)
    {
        options ??= new InstanceOptions();
        options.Validate();
        System.IO.Directory.CreateDirectory(directory);
        if (File.Exists(Path.Combine(directory, CheckpointFile.FileName)))
        {
            throw new StorageException($"'{Path.GetFullPath(directory)}' already holds an instance (it has a checkpoint file). Open it instead.");
        }
        var instance = new StorageInstance(directory, options, Signature.New());
        try
        {
            System.IO.Directory.CreateDirectory(instance.LogDirectory);
            if (LogFiles.List(instance.LogDirectory).Count > 0)
            {
                throw new StorageException($"'{instance.LogDirectory}' already holds log generations but there is no checkpoint file. Restore the checkpoint, or move the logs away to start a new instance.");
            }
            instance.StartLog(1, 0);
            instance._checkpoint = new Lsn(1, LogFileHeader.RegionSize);
            instance.WriteCheckpointFile();
            instance.StartCheckpointer();
            return instance;
        }
        catch
        {
            instance.Abandon();
            throw;
        }
    }

    /// <summary>Opens an existing instance, running soft recovery if it was not shut down cleanly.</summary>
    public static StorageInstance Open(string directory, InstanceOptions? options = null) => Open(directory, options, restoring: false);

    internal static StorageInstance Open(string directory, InstanceOptions? options, bool restoring)
    {
        options ??= new InstanceOptions();
        options.Validate();
        if (!restoring && Restore.RestoreRecord.Read(directory) is { Status: not Restore.RestoreStatus.Done } pending)
        {
            throw new RestoreException($"Instance '{Path.GetFullPath(directory)}' is being restored and was not recovered (restore status {pending.Status}{(pending.Error is null ? "" : $": {pending.Error}")}). Finish it with 'blueback db recover {directory}', or run 'blueback restore' again to restart it.");
        }
        var state = CheckpointFile.Read(Path.Combine(directory, CheckpointFile.FileName));
        var instance = new StorageInstance(directory, options, state.LogSignature);
        try
        {
            instance.Recover(state);
            instance.StartCheckpointer();
            return instance;
        }
        catch
        {
            instance.Abandon();
            throw;
        }
    }

    public static StorageInstance OpenOrCreate(string directory, InstanceOptions? options = null) =>
        File.Exists(Path.Combine(directory, CheckpointFile.FileName)) ? Open(directory, options) : Create(directory, options);

    private void StartLog(uint generation, long previousCreatedTicks)
    {
        _log = new LogWriter(Name, LogDirectory, LogSignature, (uint)Options.LogGenerationSize, Options.CircularLogging,
            () => _checkpoint, LogAttachments, Poison) { Faults = Options.Faults };
        _log.Flushed = _snapshots.Flushed;
        _log.Start(generation, previousCreatedTicks);
        _ = Retirement; // deletes what a crash left retired
        _summaries ??= new PageSummaries(LogDirectory, LogSignature, () => _log.FileGeneration, () => PageSummaries.KeepFrom(Databases), Options.SummarizeInBackground);
    }

    private Blueback.Storage.Log.LogRetirement Retirement => _retirement ??= new Blueback.Storage.Log.LogRetirement(LogDirectory);

    private List<LogAttachment> LogAttachments()
    {
        lock (_dbLock)
        {
            return _databases.Values.OrderBy(d => d.Id)
                .Select(d => new LogAttachment { DatabaseId = d.Id, DatabaseSignature = d.Signature }).ToList();
        }
    }

    public ReadTransaction BeginRead()
    {
        ThrowIfUnusable();
        return new ReadTransaction(this, Cache, _snapshots);
    }

    /// <summary>Begins the instance's write transaction, waiting (bounded) for the current one to end.</summary>
    public WriteTransaction BeginWrite(CancellationToken cancellationToken = default)
    {
        ThrowIfUnusable();
        ThrowIfReadOnly("a write");
        if (!_writer.Wait(Options.WaitTimeout, cancellationToken))
        {
            throw WriterTimeout();
        }
        return NewWriteTransaction();
    }

    public async Task<WriteTransaction> BeginWriteAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfUnusable();
        ThrowIfReadOnly("a write");
        if (!await _writer.WaitAsync(Options.WaitTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw WriterTimeout();
        }
        return NewWriteTransaction();
    }

    private WriteTransaction NewWriteTransaction()
    {
        if (_closed || _poison is not null)
        {
            _writer.Release();
            ThrowIfUnusable();
        }
        return new WriteTransaction(this, Options.CacheSize / 4);
    }

    private StorageTimeoutException WriterTimeout() =>
        new($"Instance '{Name}': another write transaction held the writer for over {Options.WaitTimeout.TotalSeconds:0} s. Finish or dispose long transactions; writers are serialized.");

    internal void ReleaseWriter() => _writer.Release();

    internal void ThrowIfUnusable()
    {
        if (_poison is { } p)
        {
            throw new InstancePoisonedException(Name, p);
        }
        ObjectDisposedException.ThrowIf(_closed, this);
    }

    internal void WaitBounded(Task task, string what, CancellationToken cancellationToken)
    {
        if (!TaskFailure.WaitBounded(task, Options.WaitTimeout, cancellationToken))
        {
            throw new StorageTimeoutException($"Instance '{Name}': {what} did not finish within {Options.WaitTimeout.TotalSeconds:0} s. The log disk may be stalled.");
        }
    }

    /// <summary>Stops the instance after an unrecoverable error: nothing more is acknowledged.</summary>
    internal void Poison(Exception cause)
    {
        if (_poison is null)
        {
            _poison = cause;
            _checkpointWake.Release();
        }
    }

    public override string ToString() => $"instance {Name} ({Directory})";
}
