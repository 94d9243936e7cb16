using System.Buffers.Binary;
using Blueback.IO;
using Blueback.Storage.Format;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Storage.Log;

internal sealed partial class LogWriter
{
    private void FlusherLoop()
    {
        while (true)
        {
            bool woken = _wake.Wait(_diskFull is null ? LazyFlushInterval : DiskFullRetry);
            bool stopping = _stopping;
            lock (_flushLock)
            {
                if (_failure is not null)
                {
                    return; // a committer's own flush failed: nothing more is written (FlushOnce)
                }
                try
                {
                    FlushOnce();
                }
                catch (Exception ex)
                {
                    // Failed under the flush lock, so that no flush can start before the failure is known.
                    Fail(ex);
                    return;
                }
            }
            if (stopping && !woken)
            {
                return;
            }
            if (stopping && Interlocked.Read(ref _pendingBytes) == 0)
            {
                return;
            }
        }
    }

    /// <summary>A committer whose commit is not yet durable flushes on its own thread when no flush is running
    /// (no hand-off to the flusher thread: the single-writer fast path). When one is running, it returns false
    /// and the caller waits for the flusher, which takes every commit appended meanwhile in one batch.</summary>
    public bool TryFlushInline(Lsn lsn)
    {
        if ((ulong)Interlocked.Read(ref _flushed) >= lsn.Value)
        {
            return true;
        }
        ThrowIfFailed();
        if (!_flushLock.TryEnter())
        {
            return false;
        }
        try
        {
            FlushOnce();
        }
        catch (Exception ex)
        {
            Fail(ex);
            throw new InstancePoisonedException(_instanceName, ex);
        }
        finally
        {
            _flushLock.Exit();
        }
        if (Interlocked.Read(ref _pendingBytes) > 0)
        {
            _wake.Release(); // commits appended during our flush: the flusher takes them as one group
        }
        return (ulong)Interlocked.Read(ref _flushed) >= lsn.Value;
    }

    /// <summary>One flush batch: take what has been appended, mark it, write it, fsync, release committers. Called
    /// under <see cref="_flushLock"/>.</summary>
    private void FlushOnce()
    {
        // Never after a failed flush: its batch may be missing from the file, and recovery ends the log at such a
        // gap (a torn tail), so a later batch written after it, and every commit acknowledged because of it, would
        // be dropped. A committer can pass TryFlushInline's check just before another thread's flush fails.
        ThrowIfFailed();
        List<Chunk> batch;
        Lsn target;
        lock (_appendLock)
        {
            if (_pending.Count == 0)
            {
                return;
            }
            Span<byte> mark = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(mark, (ulong)Interlocked.Read(ref _flushed));
            AppendSmall(LogRecordType.FlushMark, 0, 0, mark);
            batch = _pending;
            _pending = new List<Chunk>();
            _pendingBytes = 0;
            target = new Lsn(_appendGeneration, _appendOffset);
        }

        for (int i = 0; i < batch.Count; i++)
        {
            var chunk = batch[i];
            if (chunk.Generation != _fileGeneration)
            {
                // A generation is complete and durable before the next one receives a byte: damage in a
                // generation that has a successor is then always damage, never a torn tail.
                Faults?.Before(IoOperation.LogFlush, LogFiles.PathOf(_directory, _fileGeneration));
                FileSystem.DataSync(_file!, LogFiles.PathOf(_directory, _fileGeneration));
                try
                {
                    OpenGeneration(chunk.Generation, _fileCreatedTicks);
                }
                catch (IOException ex)
                {
                    // No room for the next generation (a full log volume): nothing of it was written, so nothing
                    // is lost. The rest of the batch goes back in front of the queue, new commits are refused
                    // with this error, and the flusher tries again until there is room.
                    Requeue(batch, i);
                    if (_diskFull is null)
                    {
                        DiskFullChanged?.Invoke(ex);
                    }
                    _diskFull = new LogDiskFullException(_instanceName, chunk.Generation, _directory, ex);
                    ReleaseWaiters(_diskFull);
                    return;
                }
            }
            Faults?.Before(IoOperation.LogWrite, LogFiles.PathOf(_directory, _fileGeneration));
            RandomAccess.Write(_file!, chunk.Data.AsSpan(0, chunk.Used), chunk.Start);
            Interlocked.Add(ref _bytesWritten, chunk.Used);
        }
        Faults?.Before(IoOperation.LogFlush, LogFiles.PathOf(_directory, _fileGeneration));
        FileSystem.DataSync(_file!, LogFiles.PathOf(_directory, _fileGeneration));
        if (_diskFull is not null)
        {
            _diskFull = null;
            DiskFullChanged?.Invoke(null);
        }
        foreach (var chunk in batch)
        {
            if (chunk.Data.Length == ChunkSize && _spare.Count < 8)
            {
                _spare.Push(chunk.Data);
            }
        }
        Interlocked.Exchange(ref _flushed, (long)target.Value);
        Interlocked.Increment(ref _flushCount);
        Flushed?.Invoke(target);
        ReleaseWaiters(target.Value);
    }

    private void ReleaseWaiters(ulong flushed)
    {
        List<TaskCompletionSource>? done = null;
        lock (_waitersLock)
        {
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Lsn <= flushed)
                {
                    (done ??= new()).Add(_waiters[i].Tcs);
                    _waiters.RemoveAt(i);
                }
            }
        }
        if (done is not null)
        {
            foreach (var t in done)
            {
                t.TrySetResult();
            }
        }
    }

    private void OpenGeneration(uint generation, long previousCreatedTicks)
    {
        var created = DateTime.UtcNow.Ticks;
        if (created <= previousCreatedTicks)
        {
            created = previousCreatedTicks + 1; // creation times must strictly increase: they chain generations
        }
        var header = new LogFileHeader
        {
            Generation = generation,
            LogSignature = _logSignature,
            CreatedTicks = created,
            PreviousCreatedTicks = previousCreatedTicks,
            CheckpointLsn = _checkpoint().Value,
            FileSize = _generationSize,
            Flags = _circular ? LogFileHeader.FlagCircular : 0,
        };
        // The next generation's zero-filled file is prepared in the background; use it if it is ready.
        bool spareReady = _spareTask is { IsCompletedSuccessfully: true };
        Faults?.Before(IoOperation.LogCreate, LogFiles.PathOf(_directory, generation));
        LogFiles.Create(_directory, header, _attachments(), useSpare: spareReady);
        if (_spareTask is null || _spareTask.IsCompleted)
        {
            var sparePath = LogFiles.SparePath(_directory);
            long size = _generationSize;
            _spareTask = Task.Run(() => LogFiles.PrepareSpare(sparePath, size));
        }
        // The previous generation stays open until the next one exists: if creating it fails (a full volume),
        // the flusher tries again later from the same state.
        var next = File.OpenHandle(LogFiles.PathOf(_directory, generation), FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        _file?.Dispose();
        _file = next;
        Volatile.Write(ref _fileGeneration, generation); // after the file exists: readers take every generation below it as on disk
        _fileCreatedTicks = created;
    }

    private Task? _spareTask;
    private volatile LogDiskFullException? _diskFull;

    /// <summary>Set while the next generation cannot be created (a full log volume); commits are refused meanwhile.</summary>
    public LogDiskFullException? DiskFull => _diskFull;

    /// <summary>Told when the log volume fills (the error) and when there is room again (null).</summary>
    public Action<Exception?>? DiskFullChanged { get; set; }

    /// <summary>Tells every committer waiting for durability that its commit cannot be made durable now (its
    /// outcome is unknown: it becomes durable if room appears), rather than letting it wait out its bound.</summary>
    private void ReleaseWaiters(LogDiskFullException full)
    {
        List<TaskCompletionSource> all;
        lock (_waitersLock)
        {
            all = _waiters.Select(w => w.Tcs).ToList();
            _waiters.Clear();
        }
        foreach (var t in all)
        {
            t.TrySetException(full.Pending());
        }
    }

    private void Requeue(List<Chunk> batch, int from)
    {
        lock (_appendLock)
        {
            var rest = batch.GetRange(from, batch.Count - from);
            _pending.InsertRange(0, rest);
            _pendingBytes += rest.Sum(c => (long)c.Used);
        }
    }

    private void Fail(Exception ex)
    {
        _failure ??= ex;
        FaultWaiters(ex);
        _onFailure(ex);
    }

    private void FaultWaiters(Exception ex)
    {
        List<TaskCompletionSource> all;
        lock (_waitersLock)
        {
            all = _waiters.Select(w => w.Tcs).ToList();
            _waiters.Clear();
        }
        var poisoned = new InstancePoisonedException(_instanceName, ex);
        foreach (var t in all)
        {
            t.TrySetException(poisoned);
        }
    }

    /// <summary>Flushes what is pending and stops the flusher within <paramref name="bound"/>.</summary>
    public void Stop(TimeSpan bound)
    {
        _stopping = true;
        _wake.Release();
        if (_flusher.IsAlive && !_flusher.Join(bound))
        {
            Fail(new StorageTimeoutException($"Instance '{_instanceName}': the log flusher did not stop within {bound.TotalSeconds:0.#} s."));
        }
    }

    public void Dispose()
    {
        if (_flusher.ThreadState != ThreadState.Unstarted)
        {
            Stop(TimeSpan.FromSeconds(10));
        }
        // A spare still being zero-filled is left to finish on its own (bounded by its size); wait briefly.
        if (_spareTask is { } spare)
        {
            Task.WaitAny([spare], TimeSpan.FromSeconds(5)); // never throws: a failed spare only means inline creation
        }
        // Anything still waiting was flushed by the last loop; fault stragglers so that no one waits forever.
        FaultWaiters(new ObjectDisposedException($"log of instance '{_instanceName}'"));
        _file?.Dispose();
        _file = null;
        _wake.Dispose();
    }
}
