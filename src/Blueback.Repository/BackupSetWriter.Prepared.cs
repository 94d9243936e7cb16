using Blueback.Repository.Chunks;

namespace Blueback.Repository;

/// <summary>Chunks that arrive prepared: cut, hashed and compressed by the server that sent them (chunk frames), so
/// that the program only names each by its hash, seals it where the repository is encrypted, and stores it as it came.
/// The writer's pipeline is the same as for a raw stream: at most <see cref="BackupRepository.Parallelism"/> writes in
/// flight, chunks reused by id, the manifest last.</summary>
public sealed partial class BackupSetWriter
{
    /// <summary>Bytes of content per chunk: what a server cutting the file for this writer must use.</summary>
    public int ChunkSize => _chunkSize;

    /// <summary>True when chunks can arrive prepared: a format-2 repository (chunks named by content) whose codec a
    /// server can apply (zstd at any level, or none).</summary>
    public bool TakesPreparedChunks => Shared && (_codec.StoresRaw || _codec.Name.StartsWith("zstd", StringComparison.Ordinal));

    /// <summary>Starts a file whose chunks arrive prepared; add them in order with <see cref="AddPreparedChunkAsync"/>,
    /// then <see cref="CompletePreparedFile"/>.</summary>
    public PreparedFile BeginPreparedFile(string path)
    {
        if (!TakesPreparedChunks)
        {
            throw new InvalidOperationException($"Set {SetId} cannot take prepared chunks (repository format {_repository.Format}, codec {_codec.Name}).");
        }
        return new PreparedFile(new ManifestFile { Path = path });
    }

    /// <summary>A buffer to receive a payload of up to <paramref name="payloadSize"/> bytes into, with room for the
    /// stored chunk's trailer after it. It goes to <see cref="AddPreparedChunkAsync"/> or back through
    /// <see cref="ReturnReceiveBuffer"/>.</summary>
    public ReceiveBuffer RentReceiveBuffer(int payloadSize) =>
        new(Rent(_storedBuffers, Math.Max(payloadSize, ChunkObject.MaxStoredSize(_codec, _chunkSize) - ChunkObject.TrailerSize) + ChunkObject.TrailerSize), payloadSize);

    /// <summary>Gives back a buffer that was not handed to <see cref="AddPreparedChunkAsync"/>.</summary>
    public void ReturnReceiveBuffer(ReceiveBuffer buffer) => Release(_storedBuffers, buffer.Chunk);

    /// <summary>Adds the next chunk of <paramref name="file"/>: its content's size and SHA-256, and its payload as the
    /// server encoded it (null for a chunk the server left out because the repository holds it; the payload's CRC32C
    /// checked by the caller). Returns once the chunk has a place in the pipeline; its write goes on in the
    /// background (a failure fails a later call, or <see cref="CommitAsync"/>). The buffer is the writer's from here.</summary>
    public async Task AddPreparedChunkAsync(PreparedFile file, int rawSize, byte[] contentHash, bool compressed, ReceiveBuffer? payload, uint payloadCrc32C, CancellationToken cancellationToken)
    {
        try
        {
            if (payload is not null && compressed == _codec.StoresRaw)
            {
                throw new InvalidOperationException($"A chunk of '{file.File.Path}' arrived {(compressed ? "compressed" : "uncompressed")}, but set {SetId} is stored with {_codec.Name}.");
            }
            await TakeSlotAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (payload is not null)
            {
                ReturnReceiveBuffer(payload);
            }
            throw;
        }
        var chunk = new ManifestChunk { RawSize = rawSize, ContentHash = contentHash };
        file.File.Chunks.Add(chunk);
        file.File.Size += rawSize;
        RawBytes += rawSize;
        var token = CancellationTokenSource.CreateLinkedTokenSource(_abandon.Token);
        _writes.Add(Task.Run(async () =>
        {
            try
            {
                await StoreSharedAsync(chunk, id =>
                {
                    if (payload is null)
                    {
                        throw new RepositoryException($"The server left chunk '{ChunkObject.Key(id)}' of '{file.File.Path}' out as already in the repository, but no committed set of it names that chunk (was a set forgotten meanwhile?). No set was written; take the backup again.");
                    }
                    var codecId = ChunkObject.CodecId(compressed ? _codec.Name : "none");
                    return payload.Chunk.Memory[..ChunkObject.Finish(id, payload.Chunk.Span, payload.Length, codecId, rawSize, _repository.Keys, payloadCrc32C)];
                }, token.Token).ConfigureAwait(false);
            }
            finally
            {
                if (payload is not null)
                {
                    ReturnReceiveBuffer(payload);
                }
                _slots.Release();
                token.Dispose();
            }
        }, CancellationToken.None));
    }

    /// <summary>Ends a file whose chunks arrived prepared: it joins the set's files (its digest is made at the commit,
    /// from the chunks' hashes).</summary>
    public ManifestFile CompletePreparedFile(PreparedFile file)
    {
        _files.Add(file.File);
        return file.File;
    }
}

/// <summary>A file being added chunk by chunk (<see cref="BackupSetWriter.BeginPreparedFile"/>).</summary>
public sealed class PreparedFile
{
    internal PreparedFile(ManifestFile file) => File = file;

    internal ManifestFile File { get; }

    /// <summary>Bytes of content added so far.</summary>
    public long Size => File.Size;
}

/// <summary>A buffer a chunk's payload is received into (<see cref="BackupSetWriter.RentReceiveBuffer"/>): aligned for
/// the local store's direct writes, with room for the trailer after the payload.</summary>
public sealed class ReceiveBuffer
{
    internal ReceiveBuffer(ChunkBuffer chunk, int length)
    {
        Chunk = chunk;
        Length = length;
    }

    internal ChunkBuffer Chunk { get; }

    /// <summary>The payload's length.</summary>
    public int Length { get; }

    /// <summary>Where the payload goes: exactly <see cref="Length"/> bytes.</summary>
    public Memory<byte> Memory => Chunk.Memory[..Length];
}
