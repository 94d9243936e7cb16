using System.Buffers.Binary;
using Blueback.Storage.Format;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Storage.Log;

/// <summary>Appends records to the in-memory tail of the log and flushes them with group commit: one flusher
/// thread writes whatever has accumulated since its last flush, fsyncs once, and releases every committer whose
/// commit record is now durable.</summary>
internal sealed partial class LogWriter : IDisposable
{
    private const int ChunkSize = 1 << 20;
    private const int GenerationEndSize = LogRecordLayout.HeaderSize;
    private static readonly TimeSpan LazyFlushInterval = TimeSpan.FromMilliseconds(50);
    /// <summary>How often a full log volume is tried again.</summary>
    private static readonly TimeSpan DiskFullRetry = TimeSpan.FromMilliseconds(250);

    private readonly string _directory;
    private readonly Signature _logSignature;
    private readonly uint _generationSize;
    private readonly bool _circular;
    private readonly Func<Lsn> _checkpoint;
    private readonly Func<IReadOnlyList<LogAttachment>> _attachments;
    private readonly Action<Exception> _onFailure;
    private readonly string _instanceName;

    // Append side (guarded by _appendLock).
    private readonly Lock _appendLock = new();
    private List<Chunk> _pending = new();
    // Flushed chunk buffers come back here: a 1 MiB allocation per commit would cost more than the commit.
    private readonly System.Collections.Concurrent.ConcurrentStack<byte[]> _spare = new();
    private long _pendingBytes;
    private uint _appendGeneration;
    private uint _appendOffset;
    // When the current generation received its first record other than a flush mark (0: none yet), and the same
    // for recent generations: how old the oldest commit not yet shipped is (log shipping rolls on that age).
    private long _firstRecordTicks;
    private readonly Dictionary<uint, long> _firstRecordByGeneration = new();

    // Flush side (flusher thread only, except where noted).
    private readonly Thread _flusher;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly Lock _waitersLock = new();
    private readonly Lock _flushLock = new();
    private readonly List<(ulong Lsn, TaskCompletionSource Tcs)> _waiters = new();
    private SafeFileHandle? _file;
    private uint _fileGeneration;
    private long _fileCreatedTicks;
    private long _flushed; // Lsn.Value, read without locks
    private volatile bool _stopping;
    private volatile Exception? _failure;

    /// <summary>Faults injected into this log's writes, flushes and file creation (tests and drills).</summary>
    public IoFaults? Faults { get; init; }

    public LogWriter(string instanceName, string directory, Signature logSignature, uint generationSize, bool circular,
        Func<Lsn> checkpoint, Func<IReadOnlyList<LogAttachment>> attachments, Action<Exception> onFailure)
    {
        _instanceName = instanceName;
        _directory = directory;
        _logSignature = logSignature;
        _generationSize = generationSize;
        _circular = circular;
        _checkpoint = checkpoint;
        _attachments = attachments;
        _onFailure = onFailure;
        _flusher = new Thread(FlusherLoop) { IsBackground = true, Name = $"blueback-log-{instanceName}" };
    }

    public Lsn FlushedLsn => Lsn.FromValue((ulong)Interlocked.Read(ref _flushed));

    public Lsn AppendPosition
    {
        get
        {
            lock (_appendLock)
            {
                return new Lsn(_appendGeneration, _appendOffset);
            }
        }
    }

    public uint CurrentGeneration => _appendGeneration;

    /// <summary>Append position; the caller holds <see cref="AppendScope"/>.</summary>
    public Lsn AppendPositionLocked => new(_appendGeneration, _appendOffset);

    /// <summary>The generation the flusher writes now (never deleted by circular logging).</summary>
    public uint FileGeneration => Volatile.Read(ref _fileGeneration);

    /// <summary>Called on the flusher thread after every flush, with the new durable position.</summary>
    public Action<Lsn>? Flushed { get; set; }

    public long FlushCount => Interlocked.Read(ref _flushCount);
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);
    private long _flushCount;
    private long _bytesWritten;

    /// <summary>Creates generation <paramref name="generation"/> and starts appending at its first record.</summary>
    public void Start(uint generation, long previousCreatedTicks)
    {
        OpenGeneration(generation, previousCreatedTicks);
        _appendGeneration = generation;
        _appendOffset = LogFileHeader.RegionSize;
        Interlocked.Exchange(ref _flushed, (long)new Lsn(generation, LogFileHeader.RegionSize).Value);
        _flusher.Start();
    }

    /// <summary>Held by the one appender (a committing transaction) while it appends a group of records, so that
    /// the flusher's marks never land inside it.</summary>
    public Lock.Scope AppendScope()
    {
        ThrowIfFailed();
        return _appendLock.EnterScope();
    }

    /// <summary>Reserves room for a record and returns where to write its payload. Call under
    /// <see cref="AppendScope"/>, then <see cref="Seal"/>.</summary>
    public Span<byte> Reserve(LogRecordType type, ushort db, uint page, int payloadLength, out Lsn lsn)
    {
        int length = LogRecordLayout.HeaderSize + payloadLength;
        int padded = LogRecordLayout.Padded(length);
        if (padded + GenerationEndSize > _generationSize - LogFileHeader.RegionSize)
        {
            throw new StorageLimitException($"A log record of {length} bytes does not fit in a log generation of {_generationSize} bytes; raise the generation size.");
        }
        if (_appendOffset + padded + GenerationEndSize > _generationSize)
        {
            Roll();
        }
        lsn = new Lsn(_appendGeneration, _appendOffset);
        if (_firstRecordTicks == 0 && type != LogRecordType.FlushMark)
        {
            _firstRecordTicks = DateTime.UtcNow.Ticks;
            _firstRecordByGeneration[_appendGeneration] = _firstRecordTicks;
            _firstRecordByGeneration.Remove(_appendGeneration - 4096);
        }
        var chunk = ChunkFor(padded);
        var span = chunk.Data.AsSpan(chunk.Used, padded);
        span.Clear();
        LogRecordLayout.WriteHeader(span, length, lsn, type, db, page);
        chunk.Used += padded;
        chunk.LastLength = length;
        _appendOffset += (uint)padded;
        _pendingBytes += padded;
        return span.Slice(LogRecordLayout.HeaderSize, payloadLength);
    }

    /// <summary>Computes the checksum of the record most recently reserved.</summary>
    public void Seal(Lsn lsn)
    {
        var chunk = _pending[^1];
        int padded = LogRecordLayout.Padded(chunk.LastLength);
        LogRecordLayout.Seal(chunk.Data.AsSpan(chunk.Used - padded, padded), lsn, chunk.LastLength);
    }

    public Lsn AppendSmall(LogRecordType type, ushort db, uint page, ReadOnlySpan<byte> payload)
    {
        var span = Reserve(type, db, page, payload.Length, out var lsn);
        payload.CopyTo(span);
        Seal(lsn);
        return lsn;
    }

    public long PendingBytes => Interlocked.Read(ref _pendingBytes);

    /// <summary>Ends the current generation if it holds any record, so that every record so far is in a complete
    /// generation. Returns the first generation that is not complete. Call under <see cref="AppendScope"/>.</summary>
    public uint ForceNewGenerationLocked()
    {
        if (_appendOffset > LogFileHeader.RegionSize)
        {
            Roll();
        }
        return _appendGeneration;
    }

    private void Roll()
    {
        var lsn = new Lsn(_appendGeneration, _appendOffset);
        Reserve0(LogRecordType.GenerationEnd, lsn);
        _appendGeneration++;
        _appendOffset = LogFileHeader.RegionSize;
        _firstRecordTicks = 0;
    }

    /// <summary>Ends the current generation if its first record (flush marks aside) is at least
    /// <paramref name="age"/> old; returns the first generation that is not complete, and whether it rolled.
    /// Call under <see cref="AppendScope"/>.</summary>
    public (uint Next, bool Rolled) RollIfOlderLocked(TimeSpan age, DateTime now)
    {
        if (_firstRecordTicks != 0 && now.Ticks - _firstRecordTicks >= age.Ticks)
        {
            Roll();
            return (_appendGeneration, true);
        }
        return (_appendGeneration, false);
    }

    /// <summary>When <paramref name="generation"/> received its first record (flush marks aside), if this process
    /// wrote it and it holds one. Call under <see cref="AppendScope"/>.</summary>
    public DateTime? FirstRecordTimeLocked(uint generation) =>
        _firstRecordByGeneration.TryGetValue(generation, out var t) && (generation != _appendGeneration || _firstRecordTicks != 0)
            ? new DateTime(t, DateTimeKind.Utc)
            : null;

    private void Reserve0(LogRecordType type, Lsn lsn)
    {
        var chunk = ChunkFor(GenerationEndSize);
        var span = chunk.Data.AsSpan(chunk.Used, GenerationEndSize);
        span.Clear();
        LogRecordLayout.WriteHeader(span, GenerationEndSize, lsn, type, 0, 0);
        LogRecordLayout.Seal(span, lsn, GenerationEndSize);
        chunk.Used += GenerationEndSize;
        chunk.LastLength = GenerationEndSize;
        _appendOffset += GenerationEndSize;
        _pendingBytes += GenerationEndSize;
    }

    private Chunk ChunkFor(int bytes)
    {
        if (_pending.Count > 0)
        {
            var last = _pending[^1];
            if (last.Generation == _appendGeneration && last.Start + (uint)last.Used == _appendOffset && last.Used + bytes <= last.Data.Length)
            {
                return last;
            }
        }
        var buffer = bytes <= ChunkSize && _spare.TryPop(out var spare) ? spare : new byte[Math.Max(ChunkSize, bytes)];
        var c = new Chunk(_appendGeneration, _appendOffset, buffer);
        _pending.Add(c);
        return c;
    }

    /// <summary>Completes when everything up to <paramref name="lsn"/> is on disk.</summary>
    public Task WhenFlushedAsync(Lsn lsn)
    {
        if ((ulong)Interlocked.Read(ref _flushed) >= lsn.Value)
        {
            return Task.CompletedTask;
        }
        var failure = _failure;
        if (failure is not null)
        {
            return Task.FromException(new InstancePoisonedException(_instanceName, failure));
        }
        if (_diskFull is { } full)
        {
            return Task.FromException(full.Pending());
        }
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waitersLock)
        {
            if ((ulong)Interlocked.Read(ref _flushed) >= lsn.Value)
            {
                return Task.CompletedTask;
            }
            // Again under the lock that FaultWaiters takes after setting the failure: a waiter added after the
            // waiters were faulted would otherwise wait out its bound, since nothing is flushed after a failure.
            if (_failure is { } failed)
            {
                return Task.FromException(new InstancePoisonedException(_instanceName, failed));
            }
            _waiters.Add((lsn.Value, tcs));
        }
        _wake.Release();
        return tcs.Task;
    }

    /// <summary>Blocks (bounded) until <paramref name="lsn"/> is durable: the write-ahead rule before a page write.</summary>
    public void FlushTo(Lsn lsn, TimeSpan timeout)
    {
        var t = WhenFlushedAsync(lsn);
        if (!TaskFailure.WaitBounded(t, timeout, CancellationToken.None))
        {
            throw new StorageTimeoutException($"Instance '{_instanceName}': the log did not reach {lsn} within {timeout.TotalSeconds:0.#} s. The log disk may be stalled; check it and retry.");
        }
    }

    public void ThrowIfFailed()
    {
        var failure = _failure;
        if (failure is not null)
        {
            throw new InstancePoisonedException(_instanceName, failure);
        }
    }

    private sealed class Chunk(uint generation, uint start, byte[] data)
    {
        public readonly uint Generation = generation;
        public readonly uint Start = start;
        public readonly byte[] Data = data;
        public int Used;
        public int LastLength;
    }
}
