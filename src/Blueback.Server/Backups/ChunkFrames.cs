using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Blueback.IO;
using Blueback.Protocol.Wire;
using Blueback.Repository.Compression;
using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Backups;

/// <summary>A backup stream cut into the program's chunks (<see cref="ChunkLayout"/>), each hashed (SHA-256) and
/// compressed here, where the bytes leave the server: a remote backup then moves compressed bytes, not raw pages, and
/// a chunk whose hash the program says its repository holds moves as a 56-byte header. All of it runs on the
/// background-priority threads, paced like the rest of a backup, so the instance's writers come first.</summary>
internal static class ChunkFrames
{
    private const int ReadSize = 1 << 20;

    /// <summary>The codecs chunk frames can carry on this machine (zstd needs the system's libzstd).</summary>
    public static List<string> Codecs { get; } = Codec.Default().Name.StartsWith("zstd", StringComparison.Ordinal) ? ["zstd", "none"] : ["none"];

    /// <summary>How a stream is cut and encoded: the range's first byte in the file (a chunk's first byte), the chunk
    /// size, the cuts (offsets in the file) and the codec.</summary>
    public sealed record Request(long Offset, int ChunkSize, List<long> Cuts, Codec Codec);

    /// <summary>Reads <c>chunk</c>, <c>cuts</c> and <c>codec</c> from the query; null with the 400's text when they
    /// are not valid.</summary>
    public static Request? Parse(IQueryCollection query, long offset, out string? problem)
    {
        problem = null;
        if (!int.TryParse(query["chunk"], NumberStyles.None, CultureInfo.InvariantCulture, out int chunk) || chunk < 4096 || chunk > ChunkFrame.MaxRawSize)
        {
            problem = $"chunk must be the repository's chunk size in bytes, from 4096 to {ChunkFrame.MaxRawSize}.";
            return null;
        }
        if (ChunkLayout.ParseCuts(query["cuts"]) is not { } cuts)
        {
            problem = $"cuts must be at most {ChunkLayout.MaxCuts} comma-separated byte offsets.";
            return null;
        }
        string codecName = query["codec"].ToString();
        Codec? codec = codecName == "none" ? Codec.None : null;
        if (codecName.StartsWith("zstd-", StringComparison.Ordinal) && int.TryParse(codecName.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int level) && level is >= 1 and <= 19)
        {
            codec = Codec.Default(level);
            if (!codec.Name.StartsWith("zstd", StringComparison.Ordinal))
            {
                problem = "This server has no zstd library (Debian: libzstd1): ask for codec=none, or compress in the program.";
                return null;
            }
        }
        if (codec is null)
        {
            problem = $"codec '{codecName}' is not one of none, zstd-1 to zstd-19.";
            return null;
        }
        return new Request(offset, chunk, cuts, codec);
    }

    /// <summary>Sends <paramref name="source"/> (the range of the file that starts at the request's offset) as chunk
    /// frames; <paramref name="sent"/> is told each chunk's content bytes once its frame is flushed.</summary>
    /// <param name="alive">Called as the chunk is read (every read of the source): the session's lease is renewed while
    /// the server works on a chunk for its client, which may take seconds on a busy machine at background priority.</param>
    public static async Task SendAsync(Stream source, Request request, IReadOnlySet<ContentHash> known, PipeWriter body, BackgroundPriority reads, Func<int, Task> sent, Action alive, CancellationToken ct)
    {
        var raw = ArrayPool<byte>.Shared.Rent(request.ChunkSize);
        var stored = ArrayPool<byte>.Shared.Rent(request.Codec.MaxStoredSize(request.ChunkSize));
        try
        {
            long end = request.Offset + source.Length;
            for (long at = request.Offset; at < end;)
            {
                int n = ChunkLayout.Length(at, end, request.ChunkSize, request.Cuts);
                var (frame, payload) = await BackupEndpoints.ReadSourceAsync(reads, () => Prepare(source, raw.AsMemory(0, n), stored, request.Codec, known, alive), ct).ConfigureAwait(false);
                frame.Write(body.GetSpan(ChunkFrame.HeaderSize));
                body.Advance(ChunkFrame.HeaderSize);
                if (payload.Length > 0)
                {
                    body.Write(payload.Span);
                }
                var flushed = await body.FlushAsync(ct).ConfigureAwait(false);
                if (flushed.IsCanceled || flushed.IsCompleted)
                {
                    throw new IOException("the response stream ended");
                }
                at += n;
                await sent(n).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
            ArrayPool<byte>.Shared.Return(stored);
        }
    }

    /// <summary>Reads one chunk (its pages checked as they are read), hashes it, and unless the program holds it,
    /// compresses it: the frame and its payload.</summary>
    private static (ChunkFrame Frame, ReadOnlyMemory<byte> Payload) Prepare(Stream source, Memory<byte> raw, byte[] stored, Codec codec, IReadOnlySet<ContentHash> known, Action alive)
    {
        for (int filled = 0; filled < raw.Length;)
        {
            alive();
            // A mebibyte at a time, as the raw stream reads: the lease is renewed between reads.
            int n = source.Read(raw.Span.Slice(filled, Math.Min(ReadSize, raw.Length - filled)));
            if (n == 0)
            {
                throw new IOException($"the stream ended {raw.Length - filled} bytes short of its announced length");
            }
            filled += n;
        }
        var hash = SHA256.HashData(raw.Span);
        if (known.Contains(ContentHash.Of(hash)))
        {
            return (new ChunkFrame(ChunkFrameKind.Known, codec.StoresRaw ? WireCodec.None : WireCodec.Zstd, raw.Length, 0, 0, hash), ReadOnlyMemory<byte>.Empty);
        }
        ReadOnlyMemory<byte> payload = codec.StoresRaw ? raw : stored.AsMemory(0, codec.Compress(raw.Span, stored));
        var wire = codec.StoresRaw ? WireCodec.None : WireCodec.Zstd;
        return (new ChunkFrame(ChunkFrameKind.Data, wire, raw.Length, payload.Length, Crc32C.Compute(0, payload.Span), hash), payload);
    }
}
