using Blueback.Protocol.Wire;

namespace Blueback.Client;

/// <summary>A stream of chunk frames from the server (<see cref="ChunkFrame"/>): read a header with
/// <see cref="ReadFrameAsync"/>, then, for a <see cref="ChunkFrameKind.Data"/> frame, its payload with
/// <see cref="ReadPayloadAsync"/>. A stream that ends early, or bytes that are not a frame, fail with
/// <see cref="BackupStreamException"/> giving the server's reason; checking the payload's CRC32C is the caller's.</summary>
public sealed class ChunkFrameReader : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly Func<string, CancellationToken, Task<BackupStreamException>> _endedEarly;
    private readonly string _what;
    private readonly byte[] _header = new byte[ChunkFrame.HeaderSize];
    private int _frames;

    internal ChunkFrameReader(BackupStream stream, string what)
        : this(stream, what, stream.EndedEarlyAsync)
    {
    }

    internal ChunkFrameReader(Stream stream, string what, Func<string, CancellationToken, Task<BackupStreamException>> endedEarly)
    {
        _stream = stream;
        _what = what;
        _endedEarly = endedEarly;
    }

    /// <summary>The next frame's header; null once the stream has ended cleanly after a whole frame.</summary>
    /// <exception cref="BackupStreamException">The stream ended inside a frame, or the bytes are not a frame.</exception>
    public async Task<ChunkFrame?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        int filled = 0;
        while (filled < _header.Length)
        {
            int n = await _stream.ReadAsync(_header.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return filled == 0 ? null : throw await _endedEarly($"the header of its chunk {_frames + 1} was whole", cancellationToken).ConfigureAwait(false);
            }
            filled += n;
        }
        if (ChunkFrame.TryRead(_header, out var problem) is not { } frame)
        {
            throw new BackupStreamException($"The {_what} sent something that is not a chunk frame as its chunk {_frames + 1}: {problem}.", null);
        }
        _frames++;
        return frame;
    }

    /// <summary>Reads the current frame's payload: exactly <paramref name="payload"/>'s length, which must be the
    /// frame's <see cref="ChunkFrame.PayloadSize"/>.</summary>
    /// <exception cref="BackupStreamException">The stream ended inside the payload.</exception>
    public async Task ReadPayloadAsync(Memory<byte> payload, CancellationToken cancellationToken = default)
    {
        int filled = 0;
        while (filled < payload.Length)
        {
            int n = await _stream.ReadAsync(payload[filled..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw await _endedEarly($"the payload of its chunk {_frames} was whole", cancellationToken).ConfigureAwait(false);
            }
            filled += n;
        }
    }

    /// <summary>Asks for the reason the stream ended before <paramref name="expected"/>: the failure to throw.</summary>
    public Task<BackupStreamException> EndedEarlyAsync(string expected, CancellationToken cancellationToken = default) =>
        _endedEarly(expected, cancellationToken);

    /// <summary>Closes the response.</summary>
    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}
