using System.Collections.Concurrent;
using System.Text.Json;
using Blueback.Repository.Chunks;

namespace Blueback.Repository;

/// <summary>Chunks copied in from another repository (<c>repo copy</c>): each arrives checked where it came from
/// (trailer, CRC32C or tag, content against its id) and is named here by its content's hash under this repository's
/// keys, so a chunk this repository holds is neither read there nor written here again. A copy that was interrupted
/// resumes: the chunks it left whole are found, checked as any chunk is read, and reused. The pipeline and the commit
/// (manifest last) are the backup's.</summary>
public sealed partial class BackupSetWriter
{
    // Chunks found whole in the store but named by no committed set (what an interrupted copy left): reused, and
    // checked to be still there at the commit, since no manifest protects them from gc until then.
    private readonly ConcurrentDictionary<string, int> _found = new(StringComparer.Ordinal);

    /// <summary>Starts a file whose chunks are copied in (format 2, whatever the codec); add them in order with
    /// <see cref="AddCopiedChunkAsync"/>, then <see cref="CompletePreparedFile"/>.</summary>
    public PreparedFile BeginCopiedFile(string path)
    {
        if (!Shared)
        {
            throw new RepositoryException($"Set {SetId} cannot be copied into '{_repository.Store.Location}': it is a format-{_repository.Format} repository, and copies go into format 2 only (make one with 'blueback repo init').");
        }
        return new PreparedFile(new ManifestFile { Path = path });
    }

    /// <summary>This repository's id for content of that SHA-256 (keyed when it is encrypted).</summary>
    public string ChunkIdFor(byte[] contentHash) => ChunkObject.IdFromHash(contentHash, _repository.Keys);

    /// <summary>Whether this repository holds the chunk: named by a committed set, already added to this set, or left
    /// in the store by an interrupted copy and whole (read and decoded here). A damaged leftover is not held: it is
    /// written again.</summary>
    public async Task<bool> HoldsAsync(string id, CancellationToken cancellationToken)
    {
        if (_known.ContainsKey(id) || _claimed.ContainsKey(id) || _found.ContainsKey(id))
        {
            return true;
        }
        var key = ChunkObject.Key(id);
        if (!await _repository.Store.ExistsAsync(key, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        var stored = await _repository.Store.ReadAsync(key, cancellationToken).ConfigureAwait(false);
        var scratch = new byte[Math.Clamp(ChunkObject.RawSizeOf(stored), 0, _chunkSize)];
        if (ChunkObject.Decode(id, stored, scratch, _repository.Keys, out _, out _) is null)
        {
            return false;
        }
        _found[id] = stored.Length;
        return true;
    }

    /// <summary>Adds the next chunk of a copied file. <paramref name="content"/> is null for a chunk
    /// <see cref="HoldsAsync"/> said this repository holds; otherwise it is the chunk's content, and
    /// <paramref name="payload"/> what the source stored for it (decrypted) in the codec <paramref name="payloadCodec"/>:
    /// kept as it is where that is this set's codec, the content encoded again otherwise. The arrays are the writer's
    /// from here. Returns once the chunk has a place in the pipeline.</summary>
    public async Task AddCopiedChunkAsync(PreparedFile file, int rawSize, byte[] contentHash, ReadOnlyMemory<byte>? content, ReadOnlyMemory<byte> payload, byte payloadCodec, CancellationToken cancellationToken)
    {
        await TakeSlotAsync(cancellationToken).ConfigureAwait(false);
        var chunk = new ManifestChunk { RawSize = rawSize, ContentHash = contentHash };
        file.File.Chunks.Add(chunk);
        file.File.Size += rawSize;
        RawBytes += rawSize;
        var token = CancellationTokenSource.CreateLinkedTokenSource(_abandon.Token);
        _writes.Add(Task.Run(async () =>
        {
            ChunkBuffer? stored = null;
            try
            {
                await StoreSharedAsync(chunk, id =>
                {
                    if (content is not { } raw)
                    {
                        throw new RepositoryException($"Chunk '{ChunkObject.Key(id)}' of '{file.File.Path}' was taken as held by '{_repository.Store.Location}', but no committed set names it any more (was a set forgotten meanwhile?). No set was written; run the copy again.");
                    }
                    stored = Rent(_storedBuffers, Math.Max(ChunkObject.MaxStoredSize(_codec, rawSize), payload.Length + ChunkObject.TrailerSize));
                    if (payloadCodec == ChunkObject.CodecId(_codec.Name))
                    {
                        payload.Span.CopyTo(stored.Span);
                        return stored.Memory[..ChunkObject.Finish(id, stored.Span, payload.Length, payloadCodec, rawSize, _repository.Keys, payloadCrc32C: null)];
                    }
                    return stored.Memory[..ChunkObject.Encode(id, raw.Span, _codec, _repository.Keys, stored.Span)];
                }, token.Token).ConfigureAwait(false);
            }
            finally
            {
                if (stored is not null)
                {
                    Release(_storedBuffers, stored);
                }
                _slots.Release();
                token.Dispose();
            }
        }, CancellationToken.None));
    }

    /// <summary>Takes the start of an earlier, interrupted writer of the same set (its pending mark), if earlier than
    /// this one's: gc keeps every chunk written since the oldest running set began, so the chunks the first try left,
    /// which this one reuses, stay protected until the commit names them.</summary>
    public async Task AdoptEarlierStartAsync(CancellationToken cancellationToken)
    {
        var key = _repository.IsImmutable
            ? BackupRepository.NewestPending(await _repository.Store.ListObjectsAsync(Prefix, cancellationToken).ConfigureAwait(false), Prefix).Key
            : BackupRepository.PendingKey(Prefix);
        if (!Shared || key is null || !await _repository.Store.ExistsAsync(key, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        try
        {
            var mark = JsonSerializer.Deserialize(await _repository.Store.ReadAsync(key, cancellationToken).ConfigureAwait(false), RepositoryJson.Default.PendingMark);
            if (mark is not null && mark.Started < _started)
            {
                _started = mark.Started;
            }
        }
        catch (JsonException)
        {
            // A torn mark: this writer's own start stands (the leftovers it reuses are checked at the commit).
        }
    }

    /// <summary>Every chunk found in the store and reused is still there: nothing named it until this commit.</summary>
    private async Task CheckFoundAsync(CancellationToken ct)
    {
        foreach (var id in _found.Keys)
        {
            if (!await _repository.Store.ExistsAsync(ChunkObject.Key(id), ct).ConfigureAwait(false))
            {
                throw new RepositoryException($"Set {SetId} reuses chunk '{ChunkObject.Key(id)}' that an interrupted copy left, and 'repo gc' removed it meanwhile. No set was written; run the copy again.");
            }
        }
    }
}
