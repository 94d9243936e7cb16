using Blueback.IO;

namespace Blueback.Storage.Log;

/// <summary>Removes log generations that are no longer needed without making the caller wait for the file system
/// to free them. A generation is retired by a rename into <c>logs/retired/</c> (from that moment, and durably once
/// the directory is flushed, it is no longer part of the log: no listing, replay or backup sees it); a background
/// thread then deletes the files. Freeing a 4 MiB preallocated file here costs 2 to 9 ms (more on a file system
/// mounted with discard), so a backup's truncation of a hundred generations spent about 0.3 s in unlink before its
/// answer. Leftovers of a crash are deleted at the next open.</summary>
internal sealed class LogRetirement : IDisposable
{
    public const string FolderName = "retired";
    private static readonly TimeSpan DisposeBound = TimeSpan.FromSeconds(2);
    private readonly string _logDirectory;
    private readonly string _folder;
    private readonly SemaphoreSlim _work = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _deleter;

    public LogRetirement(string logDirectory)
    {
        _logDirectory = logDirectory;
        _folder = Path.Combine(logDirectory, FolderName);
        _deleter = Task.Factory.StartNew(DeleteLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _work.Release(); // a crash may have left retired files: delete them too
    }

    /// <summary>Retires these generations (the caller holds the lock that decides them); returns those retired.</summary>
    public List<uint> Retire(IEnumerable<uint> generations)
    {
        var retired = new List<uint>();
        foreach (var g in generations)
        {
            if (retired.Count == 0)
            {
                Directory.CreateDirectory(_folder);
            }
            File.Move(LogFiles.PathOf(_logDirectory, g), Path.Combine(_folder, LogFiles.FileName(g)), overwrite: true);
            retired.Add(g);
        }
        if (retired.Count > 0)
        {
            FileSystem.SyncDirectory(_logDirectory); // gone from the log, durably
            _work.Release();
        }
        return retired;
    }

    private async Task DeleteLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _work.WaitAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (!Directory.Exists(_folder))
            {
                continue;
            }
            foreach (var f in Directory.EnumerateFiles(_folder))
            {
                if (_stop.IsCancellationRequested)
                {
                    return;
                }
                try
                {
                    File.Delete(f);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Left for the next pass or the next open; a retired file is no longer part of the log.
                }
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _deleter.Wait(DisposeBound); // a file being freed finishes; the rest waits for the next open
        _stop.Dispose();
        _work.Dispose();
    }
}
