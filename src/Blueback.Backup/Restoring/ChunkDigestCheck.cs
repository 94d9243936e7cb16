using Blueback.Repository;
using Blueback.Repository.Chunks;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

/// <summary>The repository's chunk digest as the engine's restore checks a file with it: the engine feeds the bytes,
/// the repository's <see cref="ChunkDigest"/> knows the chunk boundaries and the rule. Used by the offline restore
/// and by the server's restore sessions (whose uploads carry the chunk sizes).</summary>
public sealed class ChunkDigestCheck(IReadOnlyList<int> chunkSizes) : IContentCheck
{
    public string Name => "chunk digest";

    /// <summary>The check for a set's file: its chunk digest in format 2; null in format 1 (a flat SHA-256).</summary>
    public static ChunkDigestCheck? For(ManifestFile file) => file.ChunkDigest is null ? null : new(DirectoryRestoreSink.ChunkSizes(file)!);

    /// <summary>The check for a restore upload that named its chunk sizes; null when it did not.</summary>
    public static ChunkDigestCheck? For(IReadOnlyList<int>? chunkSizes) => chunkSizes is null ? null : new(chunkSizes);

    public IContentDigest Start() => new Pass(new ChunkDigest(chunkSizes));

    private sealed class Pass(ChunkDigest digest) : IContentDigest
    {
        public void Append(ReadOnlySpan<byte> data) => digest.Append(data);

        public string? Finish() => digest.Finish();

        public void Dispose() => digest.Dispose();
    }
}
