using System.Runtime.CompilerServices;
using Blueback.Repository;
using Blueback.Repository.Chunks;

namespace Blueback.Backup;

/// <summary>A chunk of the source on its way to the destination: its content's size and hash, and, unless the
/// destination holds it, its content and the payload the source stored for it (decrypted), with that payload's codec.</summary>
internal sealed record CopiedChunk(int RawSize, byte[] ContentHash, ReadOnlyMemory<byte>? Content, ReadOnlyMemory<byte> Payload, byte PayloadCodec, long ReadBytes);

/// <summary>Reads a file's chunks from the source in order, up to <c>depth</c> ahead (an object store's latency hides
/// behind the reads; each is checked on the thread pool), and reads none the destination holds when its hash is known
/// without reading it (a plain source's id is the hash; an encrypted one's manifest keeps it).</summary>
internal static class SourceChunks
{
    public static async IAsyncEnumerable<CopiedChunk> ReadAsync(BackupRepository from, BackupSetWriter writer, Manifest m, ManifestFile file, int depth, [EnumeratorCancellation] CancellationToken ct)
    {
        var ahead = new Queue<Task<CopiedChunk>>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            long offset = 0;
            foreach (var chunk in file.Chunks)
            {
                var at = offset;
                offset += chunk.RawSize;
                ahead.Enqueue(Task.Run(() => PrepareAsync(from, writer, m, file, chunk, at, stop.Token), stop.Token));
                if (ahead.Count >= depth)
                {
                    yield return await ahead.Dequeue().ConfigureAwait(false);
                }
            }
            while (ahead.Count > 0)
            {
                yield return await ahead.Dequeue().ConfigureAwait(false);
            }
        }
        finally
        {
            // Stopped early (a failure, a cancel): the reads still running end before their buffers are dropped.
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var t in ahead)
            {
                await ((Task)t).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private static async Task<CopiedChunk> PrepareAsync(BackupRepository from, BackupSetWriter writer, Manifest m, ManifestFile file, ManifestChunk chunk, long offset, CancellationToken ct)
    {
        var sourceId = ChunkObject.IdOf(chunk.Key);
        var hash = from.Keys is null ? Convert.FromHexString(sourceId) : chunk.Hash is { Length: 64 } h ? Convert.FromHexString(h) : null;
        if (hash is not null && await writer.HoldsAsync(writer.ChunkIdFor(hash), ct).ConfigureAwait(false))
        {
            return new CopiedChunk(chunk.RawSize, hash, null, default, 0, 0);
        }
        string Where() => $"Set {m.SetId}, file {file.Path}: chunk '{chunk.Key}' (bytes {offset} to {offset + chunk.RawSize} of the file) in '{from.Store.Location}'";
        if (!await from.Store.ExistsAsync(chunk.Key, ct).ConfigureAwait(false))
        {
            throw new CopySourceDamagedException($"{Where()} is missing. Nothing of the set was committed in the destination; run 'blueback verify' on the source.");
        }
        var stored = await from.Store.ReadAsync(chunk.Key, ct).ConfigureAwait(false);
        var scratch = new byte[chunk.RawSize];
        var contentHash = new byte[32];
        var length = ChunkObject.Decode(sourceId, stored, scratch, from.Keys, out bool inPlace, out var problem, contentHash);
        if (length != chunk.RawSize || (hash is not null && !hash.AsSpan().SequenceEqual(contentHash)))
        {
            throw new CopySourceDamagedException($"{Where()} is damaged: {problem ?? (length != chunk.RawSize ? $"it holds {length} bytes, the manifest says {chunk.RawSize}" : "its content is not the one its manifest names")}. Nothing of the set was committed in the destination; run 'blueback verify' on the source.");
        }
        var payload = stored.AsMemory(0, stored.Length - ChunkObject.TrailerSize);
        if (hash is null && await writer.HoldsAsync(writer.ChunkIdFor(contentHash), ct).ConfigureAwait(false))
        {
            return new CopiedChunk(chunk.RawSize, contentHash, null, default, 0, stored.Length);
        }
        return new CopiedChunk(chunk.RawSize, contentHash, inPlace ? payload : scratch, payload, ChunkObject.CodecIdOf(stored), stored.Length);
    }
}
