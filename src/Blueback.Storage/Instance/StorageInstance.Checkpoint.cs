using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Recovery;

namespace Blueback.Storage;

/// <summary>The checkpointer: a background thread that writes dirty pages back and moves the checkpoint, so that
/// recovery replays little and the log before the checkpoint can go (with circular logging, or after a backup).</summary>
public sealed partial class StorageInstance
{
    private readonly Lock _checkpointLock = new();
    private readonly SemaphoreSlim _checkpointWake = new(0, int.MaxValue);
    private Thread? _checkpointer;
    private Lsn _checkpoint;
    private ulong _checkpointRevision;
    private DateTime _lastCheckpoint = DateTime.UtcNow;

    private void StartCheckpointer()
    {
        _checkpointer = new Thread(CheckpointerLoop) { IsBackground = true, Name = $"blueback-checkpoint-{Name}" };
        _checkpointer.Start();
    }

    private void CheckpointerLoop()
    {
        while (!_closed && _poison is null)
        {
            _checkpointWake.Wait(TimeSpan.FromMilliseconds(250));
            if (_closed || _poison is not null)
            {
                return;
            }
            try
            {
                if (CheckpointDue())
                {
                    Checkpoint();
                }
            }
            catch (Exception ex) when (!_closed && FindDiskFull(ex) is not null)
            {
                // A full log volume: no page may be written before its log, so this checkpoint waits for room.
                _checkpointWake.Wait(TimeSpan.FromSeconds(1));
            }
            catch (Exception ex) when (!_closed)
            {
                Poison(ex);
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
        }
    }

    private bool CheckpointDue()
    {
        var pos = _log.AppendPosition;
        long logBytes = ((long)(pos.Generation - _checkpoint.Generation) * Options.LogGenerationSize) + pos.Offset - _checkpoint.Offset;
        if (logBytes >= Options.CheckpointLogBytes)
        {
            return true;
        }
        if (Cache.Bytes > Cache.Bound / 2 && (long)Cache.DirtyFrames().Count * Options.DefaultPageSize > Cache.Bound / 4)
        {
            return true;
        }
        return DateTime.UtcNow - _lastCheckpoint > Options.CheckpointInterval && logBytes > LogRecordLayout.HeaderSize * 8;
    }

    /// <summary>Writes every dirty page back, flushes the files, and moves the checkpoint to the log position taken
    /// at the start (the redo point): every change before it is now in the database files.</summary>
    public void Checkpoint()
    {
        ThrowIfUnusable();
        CheckpointCore();
    }

    private void CheckpointCore()
    {
        lock (_checkpointLock)
        {
            Lsn redo;
            using (_log.AppendScope())
            {
                redo = _log.AppendPositionLocked;
                // From here on, the first change to each page logs a whole image again.
                Cache.RedoPoint = redo;
            }
            Cache.WriteBack(Cache.DirtyFrames());
            _log.FlushTo(redo, Options.WaitTimeout);
            var dbs = Databases;
            foreach (var db in dbs)
            {
                db.File.Sync();
            }
            _checkpoint = redo;
            WriteCheckpointFile();
            _lastCheckpoint = DateTime.UtcNow;
            uint current = _log.CurrentGeneration;
            foreach (var db in dbs)
            {
                var h = db.Header;
                if (h.GenMinRequired != redo.Generation || h.GenMaxRequired != current)
                {
                    db.UpdateHeader((ref DatabaseHeader x) =>
                    {
                        x.GenMinRequired = redo.Generation;
                        x.GenMaxRequired = current;
                    });
                }
            }
            if (Options.CircularLogging)
            {
                DeleteGenerationsBelow(Math.Min(redo.Generation, _log.FileGeneration));
            }
        }
    }

    private static LogDiskFullException? FindDiskFull(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is LogDiskFullException full)
            {
                return full;
            }
        }
        return null;
    }

    private void DeleteGenerationsBelow(uint generation)
    {
        if (PinnedFrom() is { } pin)
        {
            generation = Math.Min(generation, pin);
        }
        RetireGenerations(LogFiles.List(LogDirectory).Where(g => g < generation).ToList());
    }

    /// <summary>Every generation removed from the log goes here: its page summary is made durable first (so changed-pages
    /// backups keep knowing what it changed), then it is retired.</summary>
    private List<uint> RetireGenerations(List<uint> generations)
    {
        if (generations.Count > 0)
        {
            _summaries?.EnsureBeforeRetire(generations);
        }
        return Retirement.Retire(generations);
    }

    private void WriteCheckpointFile()
    {
        List<AttachedDatabase> list;
        lock (_dbLock)
        {
            list = _databases.Values.OrderBy(d => d.Id).Select(d => new AttachedDatabase(d.Id, d.Signature, Relative(d.Path))).ToList();
        }
        _checkpointRevision++;
        CheckpointFile.Write(CheckpointPath, LogSignature, _checkpoint, _checkpointRevision, list);
    }
}
