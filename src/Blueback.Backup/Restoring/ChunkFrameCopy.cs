using Blueback.IO;
using Blueback.Protocol.Wire;
using Blueback.Repository;

namespace Blueback.Backup;

/// <summary>An online restore's upload of a format-2 file as chunk frames: each chunk as the repository stores it
/// (checked and, where encrypted, opened; not decompressed), with its content's SHA-256, for the server to decompress
/// and check. The network carries the compressed bytes, and the program neither decompresses nor hashes them.</summary>
internal static class ChunkFrameCopy
{
    /// <summary>Whether <paramref name="file"/> goes to <paramref name="sink"/> as chunk frames: the sink takes them
    /// and the file is format 2 (a format-1 file has a flat SHA-256 and goes as bytes).</summary>
    public static bool Applies(IRestoreSink sink, ManifestFile file) => sink.TakesChunkFrames && file.ChunkDigest is not null;

    /// <summary>Writes the frames of <paramref name="file"/> into <paramref name="destination"/>; <paramref name="sent"/>
    /// hears each frame's bytes.</summary>
    public static Task WriteAsync(BackupRepository repository, Manifest set, ManifestFile file, Stream destination, CancellationToken ct, Action<long>? progress, Action<long>? sent)
    {
        var header = new byte[ChunkFrame.HeaderSize];
        return SetVerifier.ForwardAsync(repository, set, file, async (chunk, t) =>
        {
            var codec = chunk.CodecId == 1 ? WireCodec.Zstd : WireCodec.None;
            new ChunkFrame(ChunkFrameKind.Data, codec, chunk.RawSize, chunk.Payload.Length, Crc32C.Compute(0, chunk.Payload.Span), chunk.ContentHash).Write(header);
            await destination.WriteAsync(header, t).ConfigureAwait(false);
            await destination.WriteAsync(chunk.Payload, t).ConfigureAwait(false);
            sent?.Invoke(header.Length + chunk.Payload.Length);
        }, ct, progress);
    }
}
