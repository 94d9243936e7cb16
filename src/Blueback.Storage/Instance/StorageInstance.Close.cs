using Blueback.Storage.Format;

namespace Blueback.Storage;

public sealed partial class StorageInstance
{
    private static readonly TimeSpan ThreadStopBound = TimeSpan.FromSeconds(10);

    /// <summary>Clean shutdown: waits (bounded) for the running write transaction, writes every page back, and
    /// marks the databases clean so that the next open replays nothing.</summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }
        if (_standby is not null)
        {
            _closed = true; // a view: nothing to write back
            ReleaseResources();
            return;
        }
        _backups.Running?.Abort(); // a backup never holds a shutdown up (the original refused a clean stop meanwhile)
        bool haveWriter = _writer.Wait(Options.WaitTimeout);
        try
        {
            _closed = true;
            StopCheckpointer();
            if (_poison is null)
            {
                CheckpointCore();
                var end = _log.AppendPosition;
                _log.FlushTo(end, Options.WaitTimeout);
                foreach (var db in Databases)
                {
                    db.UpdateHeader((ref DatabaseHeader h) =>
                    {
                        h.State = DatabaseState.Clean;
                        h.ConsistentLsn = _checkpoint.Value;
                        h.ConsistentTicks = DateTime.UtcNow.Ticks;
                        h.GenMinRequired = _checkpoint.Generation;
                        h.GenMaxRequired = _checkpoint.Generation;
                    });
                }
            }
        }
        finally
        {
            ReleaseResources();
            if (haveWriter)
            {
                _writer.Release();
            }
        }
    }

    /// <summary>Stops without writing anything more: what a crash after the last log flush leaves behind.
    /// The next open runs soft recovery. For tests and for giving up after a fatal error.</summary>
    public void Abandon()
    {
        _backups.Running?.Abort();
        _closed = true;
        StopCheckpointer();
        ReleaseResources();
    }

    private void StopCheckpointer()
    {
        _checkpointWake.Release();
        if (_checkpointer is { IsAlive: true } t && t != Thread.CurrentThread)
        {
            t.Join(ThreadStopBound);
        }
    }

    private void ReleaseResources()
    {
        _log?.Dispose();
        _retirement?.Dispose();
        _summaries?.Dispose();
        lock (_dbLock)
        {
            foreach (var db in _databases.Values)
            {
                db.File.Dispose();
            }
        }
        _directoryLock.Dispose();
    }

    public void Dispose() => Close();
}
