using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>A mounted backup set (<c>blueback mount</c>) in the status: which set, and what reading it has cost.</summary>
public sealed class MountStatus
{
    /// <summary>The set (and shipped generations, stop point) the instance is, in words.</summary>
    [JsonPropertyName("set")]
    public string Set { get; set; } = "";

    /// <summary>The repository it is read from.</summary>
    [JsonPropertyName("repository")]
    public string Repository { get; set; } = "";

    /// <summary>Stored bytes read from the repository for database pages (compressed as stored).</summary>
    [JsonPropertyName("bytesFetched")]
    public long BytesFetched { get; set; }

    /// <summary>Chunks read from the repository (each checked, then cached).</summary>
    [JsonPropertyName("chunksFetched")]
    public long ChunksFetched { get; set; }

    /// <summary>Reads the chunk cache answered.</summary>
    [JsonPropertyName("cacheHits")]
    public long CacheHits { get; set; }

    /// <summary>Chunks dropped from the cache to keep its bound.</summary>
    [JsonPropertyName("chunksEvicted")]
    public long ChunksEvicted { get; set; }

    /// <summary>Bytes the chunk cache holds on disk now.</summary>
    [JsonPropertyName("cacheBytes")]
    public long CacheBytes { get; set; }

    /// <summary>The chunk cache's bound (--cache-max-bytes).</summary>
    [JsonPropertyName("cacheMaxBytes")]
    public long CacheMaxBytes { get; set; }

    /// <summary>The database images' total size in the set: what a full restore would write.</summary>
    [JsonPropertyName("imageBytes")]
    public long ImageBytes { get; set; }

    /// <summary>Pages replay changed, held in the overlay.</summary>
    [JsonPropertyName("overlaidPages")]
    public long OverlaidPages { get; set; }
}
