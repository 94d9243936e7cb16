using System.Buffers;

namespace Blueback.Client;

/// <summary>A database image read as parts over several connections at once, handed out in order as one stream. Why:
/// one connection is bound by the one core that checks and sends its pages on the server and the one that receives them
/// here; parts in flight on other connections use the other cores. At most <c>streams</c> parts (each
/// <c>partSize</c> bytes, whole pages) are in flight or waiting, so memory stays at that many parts whatever the image
/// size. A failed part fails the stream; disposing it cancels the parts in flight and waits for them (bounded).</summary>
public sealed class ParallelImageStream : Stream
{
    private readonly BackupSession _session;
    private readonly string _database;
    private readonly long _length;
    private readonly int _partSize;
    private readonly int _streams;
    private readonly CancellationTokenSource _stop = new();
    private readonly Queue<Task<byte[]>> _parts = new();
    private long _nextPart; // offset of the next part to start
    private byte[]? _current;
    private int _currentLength, _currentAt;
    private long _position;
    private bool _disposed;

    /// <summary>Reads <paramref name="length"/> bytes of the image of <paramref name="database"/> in the session, in parts
    /// over <paramref name="streams"/> connections; nothing is requested before the first read.</summary>
    /// <param name="session">A backup session whose images may be read.</param>
    /// <param name="database">The database whose image is read.</param>
    /// <param name="length">The image's length in bytes (<see cref="Blueback.Protocol.BackupDatabaseInfo.ImageSize"/>).</param>
    /// <param name="partSize">Bytes per part: a multiple of the page size.</param>
    /// <param name="streams">Parts in flight at once (at least 1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="streams"/> or <paramref name="partSize"/> is below 1.</exception>
    public ParallelImageStream(BackupSession session, string database, long length, int partSize, int streams)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(streams, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(partSize, 1);
        _session = session;
        _database = database;
        _length = length;
        _partSize = partSize;
        _streams = streams;
    }

    /// <inheritdoc/>
    public override bool CanRead => true;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override bool CanWrite => false;
    /// <summary>The image's length in bytes.</summary>
    public override long Length => _length;

    /// <summary>Bytes handed out so far; setting it throws <see cref="NotSupportedException"/>.</summary>
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Reads the next bytes of the image in order; 0 at its end.</summary>
    /// <exception cref="BackupStreamException">A part failed (the message says which and why).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position >= _length || buffer.Length == 0)
        {
            return 0;
        }
        if (_current is null || _currentAt == _currentLength)
        {
            Return();
            StartParts();
            var part = _parts.Dequeue();
            _current = await part.WaitAsync(cancellationToken).ConfigureAwait(false);
            _currentLength = (int)Math.Min(_partSize, _length - _position);
            _currentAt = 0;
            StartParts(); // the place it held goes to the next part at once
        }
        int n = Math.Min(buffer.Length, _currentLength - _currentAt);
        _current.AsMemory(_currentAt, n).CopyTo(buffer);
        _currentAt += n;
        _position += n;
        return n;
    }

    private void StartParts()
    {
        while (_parts.Count < _streams && _nextPart < _length)
        {
            long offset = _nextPart;
            int length = (int)Math.Min(_partSize, _length - offset);
            _nextPart += length;
            _parts.Enqueue(ReadPartAsync(offset, length, _stop.Token));
        }
    }

    private async Task<byte[]> ReadPartAsync(long offset, int length, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await using var part = await _session.OpenDatabaseImageRangeAsync(_database, offset, length, ct).ConfigureAwait(false);
            int filled = 0;
            while (filled < length)
            {
                int n = await part.ReadAsync(buffer.AsMemory(filled, length - filled), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new BackupStreamException($"bytes {offset}+{length} of the image of database '{_database}' ended after {filled} bytes.", null);
                }
                filled += n;
            }
            return buffer;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private void Return()
    {
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }
    }

    /// <summary>Parts arrive over the network: read with <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>.</summary>
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Read a parallel image stream asynchronously.");

    /// <summary>Does nothing: the stream is read-only.</summary>
    public override void Flush()
    {
    }

    /// <summary>Throws <see cref="NotSupportedException"/>.</summary>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <summary>Throws <see cref="NotSupportedException"/>.</summary>
    public override void SetLength(long value) => throw new NotSupportedException();
    /// <summary>Throws <see cref="NotSupportedException"/>.</summary>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Cancels the parts in flight and returns at once: a part that has arrived gives its buffer back, one
    /// still on its way ends with its request (its buffer goes to the collector). Waiting for them cost a Ctrl+C tens
    /// of milliseconds on a busy machine.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        var inFlight = _parts.ToArray();
        foreach (var part in inFlight)
        {
            if (part.IsCompletedSuccessfully)
            {
                ArrayPool<byte>.Shared.Return(part.Result);
            }
            else
            {
                _ = part.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default); // observed
            }
        }
        _parts.Clear();
        Return();
        // The parts still on their way hold the token: the source goes once they have ended.
        _ = Task.WhenAll(inFlight).ContinueWith(_ => _stop.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Synchronous disposal cancels the parts in flight without waiting for them (their buffers go to the
    /// collector); <see cref="DisposeAsync"/> waits for them, bounded.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _stop.Cancel();
            var inFlight = _parts.ToArray();
            _parts.Clear();
            _ = Task.WhenAll(inFlight).ContinueWith(_ => _stop.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
        base.Dispose(disposing);
    }
}
