using Blueback.Storage.ChangedPages;
using Blueback.Storage.Diagnostics;
using Blueback.Storage.Format;
using Blueback.Storage.Log;

namespace Blueback.Storage.Backup;

public sealed record BackupDatabase(string Name, ushort Id, int PageSize, uint PageCount, long ImageSize, Signature Signature);

public sealed record BackupLogGeneration(uint Generation, string FileName, long Size);

public enum BackupState
{
    /// <summary>Begun; database images may be read (full and copy).</summary>
    Images,
    /// <summary>The log range is fixed and pinned; generations may be read.</summary>
    Logs,
    /// <summary>Logs below the checkpoint that this backup holds were deleted.</summary>
    Truncated,
    Ended,
    Aborted,
}

/// <summary>The engine's side of one online backup of an instance: a state machine that hands out database
/// images and then the log generations that make them consistent, pins those generations, truncates, and records
/// the backup in every database header. One per instance at a time.</summary>
public sealed class InstanceBackup
{
    private readonly IBackupHost _host;
    private readonly OnlineBackups _backups;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, BackupDatabase> _databases;
    private readonly HashSet<string> _imagesDone = new(StringComparer.Ordinal);
    private readonly HashSet<uint> _logsRead = new();
    private string? _openImage; // the database whose image (whole, ranges of it, or changed pages) is open
    private readonly HashSet<Stream> _openStreams = [];
    private readonly Dictionary<string, List<(long Start, long End)>> _served = new(StringComparer.Ordinal);
    private Dictionary<string, ChangedPageList>? _changed;
    private List<BackupLogGeneration>? _logs;
    // Set by Abort: a wait before a retry ends at once rather than holding an aborted backup's thread.
    private readonly ManualResetEventSlim _abortSignal = new();

    internal InstanceBackup(IBackupHost instance, OnlineBackups backups, BackupType type, Lsn mark, Lsn redoPoint, uint genLow, IReadOnlyList<BackupDatabase> databases, uint? changedSince = null)
    {
        ChangedSince = changedSince;
        _host = instance;
        _backups = backups;
        Type = type;
        Mark = mark;
        RedoPoint = redoPoint;
        GenLow = genLow;
        Started = DateTime.UtcNow;
        Id = Guid.NewGuid();
        _databases = databases.ToDictionary(d => d.Name, StringComparer.Ordinal);
        State = BackupState.Images;
    }

    public Guid Id { get; }
    public BackupType Type { get; }
    public DateTime Started { get; }
    /// <summary>The log position when the backup began.</summary>
    public Lsn Mark { get; }
    /// <summary>The checkpoint when the backup began (where a restore of its images starts replay).</summary>
    public Lsn RedoPoint { get; }
    /// <summary>The first log generation the backup set needs.</summary>
    public uint GenLow { get; }
    /// <summary>The last generation in the set, once the logs are listed.</summary>
    public uint? GenHigh { get; private set; }
    /// <summary>Taken just before the log range was fixed: every commit at or before it is in the listed generations.</summary>
    public DateTime? LogsCover { get; private set; }
    public BackupState State { get; private set; }
    public string InstanceName => _host.Name;

    /// <summary>Page ranges that failed verification and then read correctly on a retry.</summary>
    public int TransientReadsRecovered { get; private set; }

    /// <summary>Called for each transient mismatch that a retry cleared: (database, first page of the range, retries).</summary>
    public Action<string, uint, int>? TransientRead { get; set; }

    public IReadOnlyList<BackupDatabase> Databases => _databases.Values.OrderBy(d => d.Id).ToList();

    /// <summary>A changed-pages backup: its databases' pages changed since the start of this generation (the base
    /// set's first) are sent (<see cref="OpenChangedPages"/>), with its logs from its own checkpoint like a full.</summary>
    public uint? ChangedSince { get; }

    /// <summary>Whether database images are read (whole, or the changed pages of a changed-pages backup).</summary>
    public bool ReadsDatabases => Type.IncludesDatabases() || ChangedSince is not null;

    /// <summary>A changed-pages backup: the pages of <paramref name="database"/> it sends, or why they cannot be
    /// known (the client then reads the whole image instead).</summary>
    public ChangedPageList? ChangedPages(string database) => _changed?.GetValueOrDefault(database);

    internal void SetChangedPages(Dictionary<string, ChangedPageList> changed) => _changed = changed;

    /// <summary>A full backup begun with a page base: the pages of <paramref name="database"/> changed since it
    /// (ascending, as listed); null when they cannot be known or the backup has no page base (then every page is read).</summary>
    internal uint[]? PagesChangedSinceBase(string database) => Type.IncludesDatabases() ? ChangedPages(database)?.Pages : null;

    /// <summary>Opens the changed pages of one database (a changed-pages backup whose page summaries cover it).</summary>
    public Stream OpenChangedPages(string name)
    {
        lock (_lock)
        {
            Require(BackupState.Images, "open a database's changed pages");
            if (ChangedSince is null || Type.IncludesDatabases())
            {
                throw new BackupSequenceException($"This {Type.Name()} backup was not begun as a changed-pages backup; begin one with changedSince to read changed pages.");
            }
            var info = Find(name);
            var list = ChangedPages(name);
            if (list?.Pages is not { } pages)
            {
                throw new BackupSequenceException($"The changed pages of database '{name}' since generation {ChangedSince} cannot be known ({list?.Problem ?? "no page map"}); read its whole image instead.");
            }
            ThrowIfImageOpen(name);
            var db = _host.GetDatabase(name);
            var stream = new ChangedPagesStream(this, db, info.PageCount, db.Header, pages.Where(p => p < info.PageCount).ToArray());
            _openImage = name;
            _openStreams.Add(stream);
            return stream;
        }
    }

    private BackupDatabase Find(string name) => _databases.TryGetValue(name, out var info)
        ? info
        : throw new BackupSequenceException($"Database '{name}' is not part of this backup of instance '{InstanceName}'; it has: {string.Join(", ", _databases.Keys)}.");

    private void ThrowIfImageOpen(string name)
    {
        if (_openImage is not null && _openImage != name)
        {
            throw new BackupSequenceException($"The image of database '{_openImage}' is still open; close it before opening '{name}'.");
        }
    }

    /// <summary>Opens the image of one database (full and copy backups; one database's image open at a time).</summary>
    public Stream OpenDatabaseImage(string name) => OpenDatabaseImage(name, 0, null);

    /// <summary>Opens part of a database's image: <paramref name="length"/> bytes from <paramref name="offset"/>, both
    /// whole pages (null: to the end). Several parts of the same image may stream at once (a backup program reads them
    /// in parallel where one stream cannot fill the network); the image counts as read once its parts cover it.</summary>
    public Stream OpenDatabaseImage(string name, long offset, long? length)
    {
        lock (_lock)
        {
            Require(BackupState.Images, "open a database image");
            if (!ReadsDatabases)
            {
                throw new BackupSequenceException($"A {Type.Name()} backup includes no database images, only logs: list the logs.");
            }
            var info = Find(name);
            ThrowIfImageOpen(name);
            var db = _host.GetDatabase(name);
            long total = ((long)Math.Max(info.PageCount, FormatConstants.FirstDataPage) + 1) * info.PageSize;
            long end = length is { } l ? offset + l : total;
            if (offset < 0 || offset % info.PageSize != 0 || end % info.PageSize != 0 || end <= offset || end > total)
            {
                throw new BackupSequenceException($"The range {offset}+{end - offset} of the image of database '{name}' is not whole pages within its {total} bytes ({info.PageSize}-byte pages).");
            }
            var image = new DatabaseImageStream(this, db, info.PageCount, db.Header, offset, end);
            _openImage = name;
            _openStreams.Add(image);
            return image;
        }
    }

    /// <summary>Every byte of the image was read: it no longer holds the backup's place, even before its stream is
    /// closed. A client that read one image to its end opens the next at once, while the server may still be
    /// closing the first (a 409 here once, in the demo).</summary>
    internal void ImageCompleted(string database, Stream image, long start, long end, long total)
    {
        lock (_lock)
        {
            if (!_served.TryGetValue(database, out var ranges))
            {
                _served[database] = ranges = [];
            }
            ranges.Add((start, end));
            ranges.Sort();
            long covered = 0;
            foreach (var (s, e) in ranges)
            {
                if (s > covered)
                {
                    break;
                }
                covered = Math.Max(covered, e);
            }
            if (covered >= total)
            {
                _imagesDone.Add(database);
                if (_openImage == database)
                {
                    // Every byte was read: the image no longer holds the backup's place, whatever streams are still closing.
                    _openImage = null;
                    _openStreams.Clear();
                }
            }
            ImageClosed(image);
        }
    }

    internal void ImageClosed(Stream image)
    {
        lock (_lock)
        {
            if (_openStreams.Remove(image) && _openStreams.Count == 0)
            {
                _openImage = null;
            }
        }
    }

    /// <summary>Called once per database image whose reads around the page cache failed and went through it from then
    /// on: (database, file, the failure's message).</summary>
    public Action<string, string, string>? BufferedReads { get; set; }

    /// <summary>Database images that fell back to reads through the page cache.</summary>
    public int BufferedFallbacks { get; private set; }

    internal void ReportBufferedReads(string database, string path, string reason)
    {
        BufferedFallbacks++;
        BufferedReads?.Invoke(database, path, reason);
    }

    internal void ReportTransientRead(string database, uint firstPage, int retries)
    {
        TransientReadsRecovered++;
        TransientRead?.Invoke(database, firstPage, retries);
    }

    /// <summary>Fixes the log range: forces a new generation, so every record so far is in a complete generation,
    /// and lists [GenLow, new - 1]. Only after every database image was read in full and closed.</summary>
    public IReadOnlyList<BackupLogGeneration> ListLogs()
    {
        lock (_lock)
        {
            if (State == BackupState.Logs || State == BackupState.Truncated)
            {
                return _logs!;
            }
            Require(BackupState.Images, "list the logs");
            if (_openImage is not null)
            {
                throw new BackupSequenceException($"The image of database '{_openImage}' is still open; close every database image before listing the logs (a backup that lists them earlier cannot be restored).");
            }
            var missing = ReadsDatabases ? _databases.Keys.Where(n => !_imagesDone.Contains(n)).ToList() : [];
            if (missing.Count > 0)
            {
                throw new BackupSequenceException($"Database image(s) not read in full yet: {string.Join(", ", missing)}. A {Type.Name()} backup needs every database image before the logs.");
            }
            var cover = DateTime.UtcNow;
            uint next;
            if (_digestWanted)
            {
                next = _backups.ForceNewGeneration(out var atEnd);
                Digest = StartDigest(atEnd);
            }
            else
            {
                next = _backups.ForceNewGeneration();
            }
            LogsCover = cover;
            GenHigh = next - 1;
            var list = new List<BackupLogGeneration>();
            for (uint g = GenLow; g <= GenHigh; g++)
            {
                var path = LogFiles.PathOf(_host.LogDirectory, g);
                if (!File.Exists(path))
                {
                    throw new LogCorruptException($"Log generation {g}, part of this backup, is missing from '{_host.LogDirectory}'. The backup cannot be complete; abort it and take a full backup.", g);
                }
                list.Add(new BackupLogGeneration(g, LogFiles.FileName(g), new FileInfo(path).Length));
            }
            _logs = list;
            State = BackupState.Logs;
            return list;
        }
    }

    /// <summary>Opens one listed generation, verified in full first (header, signature, every record, its end):
    /// a damaged log fails the whole backup.</summary>
    public Stream OpenLog(uint generation)
    {
        lock (_lock)
        {
            if (State is not (BackupState.Logs or BackupState.Truncated))
            {
                Require(BackupState.Logs, "read a log generation");
            }
            if (_logs!.All(l => l.Generation != generation))
            {
                throw new BackupSequenceException($"Generation {generation} is not in this backup's log range ({GenLow} to {GenHigh}).");
            }
        }
        var whole = WholeGeneration.Read(_host.LogDirectory, generation, _host.LogSignature, "the backup");
        return new LogImageStream(this, generation, whole.Bytes);
    }

    internal void LogCompleted(uint generation)
    {
        lock (_lock)
        {
            _logsRead.Add(generation);
        }
    }

    /// <summary>Deletes the generations this backup holds that crash recovery no longer needs (below the
    /// checkpoint). Full and incremental only, and only once every listed generation was read in full.</summary>
    public IReadOnlyList<uint> Truncate()
    {
        lock (_lock)
        {
            if (State == BackupState.Truncated)
            {
                return [];
            }
            Require(BackupState.Logs, "truncate");
            if (!Type.Truncates())
            {
                throw new BackupSequenceException($"A {Type.Name()} backup does not truncate logs (only full and incremental backups do).");
            }
            var unread = _logs!.Where(l => !_logsRead.Contains(l.Generation)).Select(l => l.Generation).ToList();
            if (unread.Count > 0)
            {
                throw new BackupSequenceException($"Log generation(s) {string.Join(", ", unread)} were not read in full; read every listed generation before truncating.");
            }
            // Truncation means the client holds the set durably: record the backup first, so that the next
            // incremental starts after it even if the client dies before End (its generations are gone from here).
            _backups.RecordBackup(Type, Info, _databases.Values.Select(d => d.Id).ToList());
            var deleted = _backups.DeleteBackedUpGenerations(GenHigh!.Value);
            State = BackupState.Truncated;
            return deleted;
        }
    }

    /// <summary>Success: records the backup in every database header (a logged change) and releases the
    /// instance for the next backup. Idempotent.</summary>
    public void End()
    {
        lock (_lock)
        {
            if (State == BackupState.Ended)
            {
                return;
            }
            if (State is not (BackupState.Logs or BackupState.Truncated))
            {
                Require(BackupState.Logs, "end the backup");
            }
            var unread = _logs!.Where(l => !_logsRead.Contains(l.Generation)).Select(l => l.Generation).ToList();
            if (unread.Count > 0)
            {
                throw new BackupSequenceException($"Log generation(s) {string.Join(", ", unread)} were not read in full; a backup ends only after its logs are read (or abort it).");
            }
            if (State != BackupState.Truncated)
            {
                _backups.RecordBackup(Type, Info, _databases.Values.Select(d => d.Id).ToList());
            }
            State = BackupState.Ended;
            _digestCancel.Cancel(); // a digest nobody fetched is of no use now
            _backups.Finished(this);
        }
    }

    /// <summary>Asks for the digest of every table at the end of the log range (<see cref="Digest"/>), taken when the
    /// logs are listed: a restore of the set must end with the same digests. Before the logs are listed only.</summary>
    public void RequestDigest()
    {
        lock (_lock)
        {
            Require(BackupState.Images, "ask for a digest");
            _digestWanted = true;
        }
    }

    /// <summary>The tables' digests at the end of the log range, computed in the background once the logs are listed
    /// (at low priority: writers come first); null unless requested.</summary>
    public Task<List<TableDigest>>? Digest { get; private set; }

    private bool _digestWanted;
    private readonly CancellationTokenSource _digestCancel = new();

    private Task<List<TableDigest>> StartDigest(Transactions.ReadTransaction atEnd)
    {
        var done = new TaskCompletionSource<List<TableDigest>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var dbs = _databases.Values.Select(d => _host.GetDatabase(d.Name)).ToList();
        var token = _digestCancel.Token;
        var thread = new Thread(() =>
        {
            Blueback.IO.Niceness.LowerThisThread(Blueback.IO.Niceness.Background);
            try
            {
                done.TrySetResult(TableDigests.Compute(atEnd, dbs, token));
            }
            catch (OperationCanceledException)
            {
                done.TrySetCanceled(token);
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
            finally
            {
                atEnd.Dispose();
            }
        })
        { IsBackground = true, Name = $"blueback-digest-{InstanceName}" };
        thread.Start();
        return done.Task;
    }

    /// <summary>Releases the pins and the in-progress state. Idempotent; never throws.</summary>
    public void Abort()
    {
        _abortSignal.Set();
        _digestCancel.Cancel();
        lock (_lock)
        {
            if (State is BackupState.Ended or BackupState.Aborted)
            {
                return;
            }
            State = BackupState.Aborted;
            _backups.Finished(this);
        }
    }

    public bool IsFinished => State is BackupState.Ended or BackupState.Aborted;

    private BackupInfo Info => new() { MarkLsn = Mark.Value, MarkTicks = Started.Ticks, GenLow = GenLow, GenHigh = GenHigh!.Value };

    /// <summary>Called instead of the wait before a page range that failed its check is read again, with the
    /// database, the first bad page and the attempt (tests put a fault there: repair the page, or damage it more).</summary>
    internal Action<string, uint, int>? BeforeRetry { get; set; }

    /// <summary>The pause before a re-read of pages that failed their check: <paramref name="delay"/>, cut short by
    /// an abort (which then throws), or the test's <see cref="BeforeRetry"/> hook instead.</summary>
    internal void WaitBeforeRetry(string database, uint page, int attempt, TimeSpan delay)
    {
        if (BeforeRetry is { } hook)
        {
            hook(database, page, attempt);
        }
        else
        {
            _abortSignal.Wait(delay);
        }
        ThrowIfAborted();
    }

    internal void ThrowIfAborted()
    {
        if (_abortSignal.IsSet)
        {
            throw new BackupSequenceException($"The backup of instance '{InstanceName}' was aborted.");
        }
    }

    private void Require(BackupState expected, string action)
    {
        if (State == BackupState.Aborted)
        {
            throw new BackupSequenceException($"Cannot {action}: the backup of instance '{InstanceName}' was aborted. Begin a new one.");
        }
        if (State == BackupState.Ended)
        {
            throw new BackupSequenceException($"Cannot {action}: the backup of instance '{InstanceName}' has ended.");
        }
        if (State != expected)
        {
            var first = expected switch
            {
                BackupState.Images => "it is only possible before the logs are listed",
                BackupState.Logs => "list the logs first (after every database image is read)",
                _ => "the backup is in another phase",
            };
            throw new BackupSequenceException($"Cannot {action} now (the backup is in phase {State}): {first}.");
        }
    }
}
