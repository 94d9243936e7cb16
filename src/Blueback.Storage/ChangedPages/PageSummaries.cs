using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;

namespace Blueback.Storage.ChangedPages;

/// <summary>The instance's record of which pages changed in which generation (PostgreSQL 17's WAL summaries, in
/// spirit): one <see cref="GenerationSummary"/> file per closed generation under <c>logs/summaries/</c>, built from
/// the log itself by a background thread shortly after the generation closes, and always before the generation is
/// retired. Why from the log and not a map kept beside the pages: the log is already the durable truth of every page
/// change, so a summary lost in a crash is simply built again from it, and nothing is added to the commit path. A
/// summary that is missing after its generation is gone cannot be rebuilt: a changed-pages backup over that range then
/// falls back to a whole image and says why.</summary>
internal sealed class PageSummaries : IDisposable
{
    public const string FolderName = "summaries";
    private const string Extension = ".pages";
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DisposeBound = TimeSpan.FromSeconds(2);

    private readonly string _logDirectory;
    private readonly string _folder;
    private readonly Signature _logSignature;
    private readonly Func<uint> _closedBelow;
    private readonly Func<uint> _keepFrom;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <param name="closedBelow">Every generation below this one is whole on disk.</param>
    /// <param name="keepFrom">No backup can ask for changes before this generation (the oldest full backup any
    /// database records): summaries below it are removed.</param>
    public PageSummaries(string logDirectory, Signature logSignature, Func<uint> closedBelow, Func<uint> keepFrom, bool background = true)
    {
        _logDirectory = logDirectory;
        _folder = Path.Combine(logDirectory, FolderName);
        _logSignature = logSignature;
        _closedBelow = closedBelow;
        _keepFrom = keepFrom;
        _loop = background ? Task.Factory.StartNew(Loop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap() : Task.CompletedTask;
    }

    /// <summary>The oldest generation a changed-pages backup can still ask about: the oldest full backup a database
    /// records. A database without one needs no summary (its first full starts later), so an instance never backed up
    /// summarizes nothing (uint.MaxValue).</summary>
    public static uint KeepFrom(IEnumerable<Database> databases)
    {
        var fulls = databases.Where(d => !d.Header.LastFull.IsEmpty).Select(d => d.Header.LastFull.GenLow).ToList();
        return fulls.Count == 0 ? uint.MaxValue : fulls.Min();
    }

    /// <summary>The last failure to write a summary (the disk full, say); the generations concerned are then covered
    /// by whole images until a full backup.</summary>
    public string? LastError { get; private set; }

    public string PathOf(uint generation) => Path.Combine(_folder, Path.ChangeExtension(LogFiles.FileName(generation), Extension));

    /// <summary>Makes sure each generation about to be retired has its summary on disk, durably. Never throws: a
    /// summary that cannot be written must not keep a log that is no longer needed from being freed (the volume may be
    /// full); the failure is kept in <see cref="LastError"/> and shows later as a fallback.</summary>
    public void EnsureBeforeRetire(IReadOnlyList<uint> generations)
    {
        uint keep = SafeKeepFrom();
        bool synced = false;
        foreach (var g in generations)
        {
            if (g < keep)
            {
                continue;
            }
            try
            {
                if (Load(g, build: true) is not null)
                {
                    FileSystem.SyncFile(PathOf(g)); // written in the background without a flush: durable before its log goes
                    synced = true;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or StorageException)
            {
                LastError = $"the page summary of generation {g} could not be written: {ex.Message}";
            }
        }
        if (synced)
        {
            try
            {
                FileSystem.SyncDirectory(_folder);
            }
            catch (IOException ex)
            {
                LastError = $"the page summaries' folder could not be flushed: {ex.Message}";
            }
        }
    }

    /// <summary>The pages of each database changed in generations [<paramref name="from"/>, <paramref name="to"/>),
    /// below the database's page count and past its header pages; or, for a database, why that cannot be known.</summary>
    public Dictionary<Signature, ChangedPageList> ChangedIn(uint from, uint to, IReadOnlyList<(Signature Database, uint PageCount)> databases, CancellationToken ct)
    {
        var maps = databases.ToDictionary(d => d.Database, d => new bool[d.PageCount]);
        string? problem = null;
        if (from == 0 || from > to)
        {
            problem = $"the base generation {from} is not before generation {to}";
        }
        else if (from < SafeKeepFrom())
        {
            problem = $"the page summaries before generation {SafeKeepFrom()} were removed after a later full backup (taken into another repository?)";
        }
        for (uint g = from; problem is null && g < to; g++)
        {
            ct.ThrowIfCancellationRequested();
            GenerationSummary? s;
            try
            {
                s = Load(g, build: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or StorageException)
            {
                problem = $"the page summary of generation {g} could not be built: {ex.Message}";
                break;
            }
            if (s is null)
            {
                problem = $"generation {g} has neither its page summary nor its log file (removed before summaries were kept, or the summary could not be written{(LastError is null ? "" : $": {LastError}")})";
                break;
            }
            if (s.Untrusted is { } why)
            {
                problem = why;
                break;
            }
            foreach (var (sig, pages) in s.Pages)
            {
                if (maps.TryGetValue(sig, out var map))
                {
                    foreach (var p in pages)
                    {
                        if (p < map.Length)
                        {
                            map[p] = true;
                        }
                    }
                }
            }
        }
        var result = new Dictionary<Signature, ChangedPageList>();
        foreach (var (sig, map) in maps)
        {
            if (problem is not null)
            {
                result[sig] = new ChangedPageList(null, problem);
                continue;
            }
            var list = new List<uint>();
            for (uint p = FormatConstants.SpaceRootPage; p < map.Length; p++) // every page past the header pages, sent apart
            {
                if (map[p])
                {
                    list.Add(p);
                }
            }
            result[sig] = new ChangedPageList([.. list], null);
        }
        return result;
    }

    /// <summary>The summary of a generation: read from its file, or (with <paramref name="build"/>) built from the log
    /// and written durably; null when neither is there.</summary>
    private GenerationSummary? Load(uint generation, bool build)
    {
        lock (_gate)
        {
            var path = PathOf(generation);
            if (File.Exists(path))
            {
                var s = GenerationSummary.Parse(File.ReadAllBytes(path), generation);
                if (s is not null && s.LogSignature == _logSignature)
                {
                    return s;
                }
            }
            if (!build || !File.Exists(LogFiles.PathOf(_logDirectory, generation)))
            {
                return null;
            }
            var built = GenerationSummary.Build(_logDirectory, generation);
            if (built.LogSignature != _logSignature)
            {
                return null;
            }
            // Not flushed here: while its log exists a lost summary is built again; EnsureBeforeRetire flushes it before
            // the log goes. (Flushing each one cost two fsyncs per generation beside the commits'.)
            Directory.CreateDirectory(_folder);
            var temp = path + ".tmp";
            File.WriteAllBytes(temp, built.Serialize());
            File.Move(temp, path, overwrite: true);
            return built;
        }
    }

    private uint SafeKeepFrom()
    {
        try
        {
            return _keepFrom();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            return 0;
        }
    }

    /// <summary>Summarizes each closed generation not yet summarized (from the oldest still needed) and removes the
    /// summaries no backup can ask for any more.</summary>
    internal void CatchUp(CancellationToken ct)
    {
        uint keep = SafeKeepFrom(), closed = _closedBelow();
        foreach (var g in LogFiles.List(_logDirectory).Where(g => g >= keep && g < closed))
        {
            ct.ThrowIfCancellationRequested();
            Load(g, build: true);
        }
        if (keep > 0 && keep != uint.MaxValue)
        {
            RemoveWhere(_folder, g => g < keep);
        }
    }

    /// <summary>Deletes the summaries of <paramref name="first"/> and later generations of the instance whose logs are
    /// in <paramref name="logDirectory"/>: a restore to a point in time cuts those generations off, and the new history
    /// reuses their numbers with other changes (they are built again from its logs as its generations close).</summary>
    public static void RemoveFrom(string logDirectory, uint first)
    {
        var folder = Path.Combine(logDirectory, FolderName);
        if (RemoveWhere(folder, g => g >= first))
        {
            FileSystem.SyncDirectory(folder);
        }
    }

    /// <summary>Deletes the summaries whose generation <paramref name="remove"/> picks; true when any was deleted.</summary>
    private static bool RemoveWhere(string folder, Func<uint, bool> remove)
    {
        bool any = false;
        if (Directory.Exists(folder))
        {
            foreach (var f in Directory.EnumerateFiles(folder, "*" + Extension))
            {
                if (LogFiles.TryParseGeneration(Path.ChangeExtension(Path.GetFileName(f), ".log"), out var g) && remove(g))
                {
                    File.Delete(f);
                    any = true;
                }
            }
        }
        return any;
    }

    private async Task Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Poll, _stop.Token).ConfigureAwait(false);
                CatchUp(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or StorageException)
            {
                LastError = ex.Message; // tried again at the next pass; retirement builds what is still missing
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _loop.Wait(DisposeBound); // a summary being built finishes; the rest waits for the next open
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }
}

/// <summary>The pages of one database a changed-pages backup sends (ascending), or why it cannot know them.</summary>
public sealed record ChangedPageList(uint[]? Pages, string? Problem);
