using System.Security.Cryptography;

namespace Blueback.Repository.Chunks;

/// <summary>A file's digest in repository format 2: the SHA-256 of its chunks' SHA-256s, in order. Each byte is hashed
/// once, chunk by chunk (on several cores), and the same hashes name the chunks, where a flat SHA-256 of the file
/// would hash every byte a second time, on one core. Computed incrementally over a stream given the chunk sizes (a
/// server checking an upload), or from the chunk hashes (a reader that has them).</summary>
public sealed class ChunkDigest : IDisposable
{
    private readonly IReadOnlyList<int> _sizes;
    private readonly IncrementalHash _outer = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _chunk = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private int _index;
    private int _inChunk;

    public ChunkDigest(IReadOnlyList<int> chunkSizes)
    {
        _sizes = chunkSizes;
    }

    /// <summary>Bytes the chunk sizes add up to.</summary>
    public long Length => _sizes.Sum(s => (long)s);

    public void Append(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            if (_index >= _sizes.Count)
            {
                throw new InvalidDataException($"more bytes than the {_sizes.Count} chunk(s) announced");
            }
            int n = Math.Min(data.Length, _sizes[_index] - _inChunk);
            _chunk.AppendData(data[..n]);
            _inChunk += n;
            data = data[n..];
            if (_inChunk == _sizes[_index])
            {
                _outer.AppendData(_chunk.GetHashAndReset());
                _index++;
                _inChunk = 0;
            }
        }
    }

    /// <summary>The digest (hex); null when fewer bytes came than the chunks announced.</summary>
    public string? Finish()
    {
        while (_index < _sizes.Count && _sizes[_index] == 0)
        {
            _outer.AppendData(_chunk.GetHashAndReset()); // an empty chunk (never written, but well defined)
            _index++;
        }
        return _index == _sizes.Count && _inChunk == 0 ? Convert.ToHexStringLower(_outer.GetHashAndReset()) : null;
    }

    /// <summary>The digest from the chunks' SHA-256s, in order.</summary>
    public static string Of(IEnumerable<byte[]> chunkHashes)
    {
        using var outer = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var h in chunkHashes)
        {
            outer.AppendData(h);
        }
        return Convert.ToHexStringLower(outer.GetHashAndReset());
    }

    public void Dispose()
    {
        _outer.Dispose();
        _chunk.Dispose();
    }
}
