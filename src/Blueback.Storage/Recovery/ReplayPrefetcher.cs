using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Recovery;

/// <summary>Reads the log a little ahead of replay on a thread of its own and asks the kernel to bring in the pages
/// replay will read (POSIX_FADV_WILLNEED), the way PostgreSQL's recovery_prefetch does: those whose first record is
/// a delta (an image-first page is never read). Replay then finds them in the page cache instead of waiting for the
/// disk page by page, and the cost of filling the cache falls on the other core. Pages are asked for in blocks of
/// <see cref="BlockBytes"/>, each once. A hint only: whatever it misses, replay reads itself; any failure here only
/// ends the prefetching.</summary>
internal sealed class ReplayPrefetcher : IDisposable
{
    /// <summary>How far ahead of replay the prefetcher reads the log.</summary>
    private const long AheadBytes = 32 << 20;
    private const int BlockBytes = 64 << 10;
    private readonly string _logDirectory;
    private readonly Lsn _start;
    private readonly Dictionary<ushort, DatabaseFile> _files;
    private readonly Dictionary<ushort, HashSet<long>> _asked = new();
    // Pages seen so far: replay reads a page only when its first record is a delta (an image-first page needs nothing
    // from the disk). Bounded: past the limit it is cleared, which only costs a few needless hints.
    private readonly HashSet<ulong> _seen = new();
    private const int SeenLimit = 4 << 20;
    private readonly Thread _thread;
    private long _generationSize = 16 << 20; // the instance's; read from the first generation opened
    private long _replayAt;
    private volatile bool _stop;

    public ReplayPrefetcher(string logDirectory, Lsn start, IEnumerable<(ushort Id, DatabaseFile File)> databases)
    {
        _logDirectory = logDirectory;
        _start = start;
        _replayAt = (long)start.Value;
        _files = databases.ToDictionary(d => d.Id, d => d.File);
        _thread = new Thread(Run) { IsBackground = true, Name = "blueback-replay-prefetch" };
        _thread.Start();
    }

    /// <summary>Pages asked for so far (tests, diagnostics).</summary>
    public long BlocksAsked { get; private set; }

    /// <summary>Where replay is: the prefetcher stays at most <see cref="AheadBytes"/> of log ahead of it.</summary>
    public void ReplayAt(Lsn position) => Volatile.Write(ref _replayAt, (long)position.Value);

    private void Run()
    {
        try
        {
            for (uint g = _start.Generation; !_stop && File.Exists(LogFiles.PathOf(_logDirectory, g)); g++)
            {
                var reader = LogGenerationReader.Open(_logDirectory, g);
                _generationSize = Math.Max(reader.Length, 1 << 20);
                while (!_stop && reader.TryRead(out var rec))
                {
                    if (rec.Lsn < _start || rec.Type is not (LogRecordType.PageDelta or LogRecordType.PageImage) || !_files.TryGetValue(rec.Database, out var file))
                    {
                        continue;
                    }
                    if (_seen.Count >= SeenLimit)
                    {
                        _seen.Clear();
                    }
                    if (!_seen.Add(((ulong)rec.Database << 32) | rec.Page) || rec.Type == LogRecordType.PageImage)
                    {
                        continue; // replay has (or will have) this page in memory, or needs nothing from the disk for it
                    }
                    WaitForReplay(rec.Lsn);
                    long block = (long)rec.Page * file.PageSize / BlockBytes;
                    if (!_asked.TryGetValue(rec.Database, out var asked))
                    {
                        _asked[rec.Database] = asked = new HashSet<long>();
                    }
                    if (asked.Add(block))
                    {
                        if (file.Store.Handle is { } handle) // a mounted set's pages are fetched when read
                        {
                            FileSystem.WillNeed(handle, block * BlockBytes, BlockBytes);
                        }
                        BlocksAsked++;
                    }
                }
                if (reader.End != LogEnd.GenerationEnd)
                {
                    return; // the end of the log (or a damaged spot, which replay reports)
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A hint only, on a thread of its own (where an escaping exception would end the process): replay reads
            // what it needs itself, and reports whatever is wrong with the log.
        }
    }

    /// <summary>Waits (in short sleeps) while the record is more than <see cref="AheadBytes"/> of log ahead of replay.</summary>
    private void WaitForReplay(Lsn record)
    {
        while (!_stop)
        {
            var at = Lsn.FromValue((ulong)Volatile.Read(ref _replayAt));
            long ahead = ((long)record.Generation - at.Generation) * _generationSize + record.Offset - at.Offset;
            if (ahead <= AheadBytes)
            {
                return;
            }
            Thread.Sleep(1);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(5)); // it sleeps at most a millisecond at a time; a read in flight ends
    }
}
