using System.Buffers;
using System.Security.Cryptography;
using Blueback.IO;
using Blueback.Protocol.Wire;
using Blueback.Repository.Chunks;
using Blueback.Repository.Compression;
using Blueback.Storage;

namespace Blueback.Server.Restores;

/// <summary>A restore upload sent as chunk frames (<see cref="ChunkFrame"/>): each of the file's chunks as the
/// repository stores it, zstd-compressed or raw, with its content's SHA-256. The program forwards the payloads without
/// decompressing them; here each is checked (CRC32C), decompressed, hashed against its frame, and written; the file's
/// chunk digest is made from those hashes and checked against the one announced. The network carries compressed
/// bytes, and each byte is hashed once, here, as for a raw upload.</summary>
internal static class FramedUpload
{
    /// <summary>The most bytes a framed upload of a file with these chunks may take (every payload at its largest).</summary>
    public static long MaxBytes(IReadOnlyList<int> chunkSizes) => chunkSizes.Sum(n => (long)ChunkFrame.HeaderSize + ChunkFrame.MaxPayloadSize(n));

    /// <summary>Reads the frames of <paramref name="file"/> from <paramref name="body"/>, writing the content into
    /// <paramref name="sink"/>.</summary>
    /// <exception cref="RestoreException">The frames do not match the chunks announced, a payload is damaged, or the
    /// content does not make the digest announced (a 422 naming the chunk).</exception>
    public static async Task CopyAsync(HostedRestore s, string file, Stream body, Stream sink, IReadOnlyList<int> chunkSizes, string expectedDigest, CancellationToken ct)
    {
        int largest = chunkSizes.Count == 0 ? 0 : chunkSizes.Max();
        var header = new byte[ChunkFrame.HeaderSize];
        var payload = ArrayPool<byte>.Shared.Rent(Math.Max(1, ChunkFrame.MaxPayloadSize(largest)));
        var raw = ArrayPool<byte>.Shared.Rent(Math.Max(1, largest));
        var hashes = new List<byte[]>(chunkSizes.Count);
        var zstd = Codec.ByName("zstd-1");
        long offset = 0;
        try
        {
            for (int i = 0; i < chunkSizes.Count; i++)
            {
                string where = $"{file}, chunk {i + 1} of {chunkSizes.Count} (bytes {offset:N0} to {offset + chunkSizes[i]:N0})";
                await ReadExactlyAsync(body, header, where, ct).ConfigureAwait(false);
                if (ChunkFrame.TryRead(header, out var problem) is not { } frame)
                {
                    throw new RestoreException($"{where}: the upload is not a chunk frame there ({problem}). Send the file's chunks as chunk frames, or the file raw without the upload-encoding header.");
                }
                if (frame.Kind != ChunkFrameKind.Data || frame.RawSize != chunkSizes[i])
                {
                    throw new RestoreException($"{where}: its frame says {frame.Kind.ToString().ToLowerInvariant()} of {frame.RawSize:N0} bytes; the upload announced {chunkSizes[i]:N0} bytes of data.");
                }
                var p = payload.AsMemory(0, frame.PayloadSize);
                await ReadExactlyAsync(body, p, where, ct).ConfigureAwait(false);
                if (Crc32C.Compute(0, p.Span) != frame.PayloadCrc32C)
                {
                    throw new RestoreException($"{where}: its payload fails its CRC32C: damaged on the way. Run the restore again.");
                }
                var content = raw.AsMemory(0, frame.RawSize);
                if (frame.Codec == WireCodec.Zstd)
                {
                    try
                    {
                        zstd.Decompress(p.Span, content.Span);
                    }
                    catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException)
                    {
                        throw new RestoreException($"{where}: its payload does not decompress ({ex.Message}). Run 'blueback verify' on the set.", ex);
                    }
                }
                else
                {
                    content = p; // WireCodec.None: the frame's sizes are equal (ChunkFrame.TryRead)
                }
                var hash = SHA256.HashData(content.Span);
                if (!hash.AsSpan().SequenceEqual(frame.ContentHash))
                {
                    throw new RestoreException($"{where}: its content does not hash to the SHA-256 its frame gives. Run 'blueback verify' on the set; restore from another set if it names this chunk.");
                }
                hashes.Add(hash);
                await sink.WriteAsync(content, ct).ConfigureAwait(false);
                s.Wrote(content.Length);
                offset += content.Length;
            }
            if (await body.ReadAsync(header.AsMemory(0, 1), ct).ConfigureAwait(false) != 0)
            {
                throw new RestoreException($"{file}: the upload goes on after its {chunkSizes.Count} chunk(s). Send exactly the chunks announced in the chunk-sizes header.");
            }
            var digest = ChunkDigest.Of(hashes);
            if (!string.Equals(digest, expectedDigest, StringComparison.Ordinal))
            {
                throw new RestoreException($"{file}: its chunks make the chunk digest {digest}, not the {expectedDigest} announced. Run the restore again; if it repeats, run 'blueback verify' on the set.");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    private static async Task ReadExactlyAsync(Stream body, Memory<byte> into, string where, CancellationToken ct)
    {
        try
        {
            await body.ReadExactlyAsync(into, ct).ConfigureAwait(false);
        }
        catch (EndOfStreamException ex)
        {
            throw new RestoreException($"{where}: the upload ended there. Run the restore again.", ex);
        }
    }
}
