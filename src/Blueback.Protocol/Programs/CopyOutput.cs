using System.Text.Json.Serialization;

namespace Blueback.Protocol.Programs;

/// <summary>What <c>blueback repo copy --json</c> prints: the sets and shipped generations copied into the destination,
/// those it held already, and the bytes.</summary>
public sealed class CopyOutput
{
    /// <summary>The source repository's location.</summary>
    [JsonPropertyName("from")] public string From { get; set; } = "";

    /// <summary>The destination repository's location.</summary>
    [JsonPropertyName("to")] public string To { get; set; } = "";

    /// <summary>The sets committed in the destination by this copy, each under its source id, bases first.</summary>
    [JsonPropertyName("copied")] public List<string> Copied { get; set; } = [];

    /// <summary>The chosen sets the destination held already (skipped).</summary>
    [JsonPropertyName("alreadyThere")] public List<string> AlreadyThere { get; set; } = [];

    /// <summary>Shipped log generations committed in the destination by this copy.</summary>
    [JsonPropertyName("shippedCopied")] public int ShippedCopied { get; set; }

    /// <summary>Shipped log generations the destination held already.</summary>
    [JsonPropertyName("shippedAlreadyThere")] public int ShippedAlreadyThere { get; set; }

    /// <summary>Bytes of content (database images and logs) in what was copied.</summary>
    [JsonPropertyName("bytes")] public long Bytes { get; set; }

    /// <summary>Bytes of stored chunks read from the source (those the destination held are not read).</summary>
    [JsonPropertyName("read")] public long Read { get; set; }

    /// <summary>Bytes of stored chunks written into the destination.</summary>
    [JsonPropertyName("stored")] public long Stored { get; set; }

    /// <summary>Bytes of content whose chunks the destination held already (not written again).</summary>
    [JsonPropertyName("reused")] public long Reused { get; set; }

    /// <summary>Wall-clock seconds the copy took.</summary>
    [JsonPropertyName("seconds")] public double Seconds { get; set; }
}
