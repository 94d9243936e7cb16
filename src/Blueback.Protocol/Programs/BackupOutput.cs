using System.Text.Json.Serialization;

namespace Blueback.Protocol.Programs;

/// <summary>What <c>blueback backup --json</c> prints: the committed set. Also printed, with <see cref="Committed"/>
/// set, by a backup that was stopped or failed after its set's commit (exit 130 or 2): the set is listed and restores,
/// only the server's log truncation is left for the next backup.</summary>
public sealed class BackupOutput
{
    /// <summary>The set's id.</summary>
    [JsonPropertyName("set")] public string Set { get; set; } = "";

    /// <summary>The instance backed up.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";

    /// <summary>full, incremental, differential or copy.</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";

    /// <summary>The set this one depends on (incrementals and differentials); null for a full or copy.</summary>
    [JsonPropertyName("parent")] public string? Parent { get; set; }

    /// <summary>Bytes of database images and logs read from the server.</summary>
    [JsonPropertyName("bytes")] public long Bytes { get; set; }

    /// <summary>Bytes written into the repository (compressed, new chunks only).</summary>
    [JsonPropertyName("stored")] public long Stored { get; set; }

    /// <summary>Bytes whose chunks the repository held already (deduplicated, not written again).</summary>
    [JsonPropertyName("reused")] public long Reused { get; set; }

    /// <summary>Bytes that crossed the network from the server: compressed chunks and the headers of those the
    /// repository held, when the server prepared them; the raw bytes otherwise.</summary>
    [JsonPropertyName("wire")] public long Wire { get; set; }

    /// <summary>Where the chunks were hashed and compressed: "server" or "client".</summary>
    [JsonPropertyName("compressedOn")] public string? CompressedOn { get; set; }

    /// <summary>The chunks' codec.</summary>
    [JsonPropertyName("codec")] public string? Codec { get; set; }

    /// <summary>Wall-clock seconds the backup took.</summary>
    [JsonPropertyName("seconds")] public double Seconds { get; set; }

    /// <summary>The set's lowest log generation.</summary>
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }

    /// <summary>The set's highest log generation.</summary>
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }

    /// <summary>The log generations the server deleted after the commit.</summary>
    [JsonPropertyName("truncated")] public List<uint> Truncated { get; set; } = [];

    /// <summary>A changed-pages set: the generation its pages are listed from; null otherwise.</summary>
    [JsonPropertyName("changedSince")] public uint? ChangedSince { get; set; }

    /// <summary>A changed-pages set: the databases held whole instead, each with why.</summary>
    [JsonPropertyName("wholeImages")] public List<string> WholeImages { get; set; } = [];

    /// <summary>A full that skipped unchanged pages (<c>--skip-unchanged</c>): bytes of images not read again.</summary>
    [JsonPropertyName("unreadBytes")] public long UnreadBytes { get; set; }

    /// <summary>A full that skipped unchanged pages: the set their chunks were named from; null when every page was read.</summary>
    [JsonPropertyName("unchangedFrom")] public string? UnchangedFrom { get; set; }

    /// <summary>A full asked to skip unchanged pages: why each database (or the backup) was read in full instead.</summary>
    [JsonPropertyName("readInFull")] public List<string> ReadInFull { get; set; } = [];

    /// <summary>Whether the set records its tables' digests (what proofs compare).</summary>
    [JsonPropertyName("digest")] public bool Digest { get; set; }

    /// <summary>The repository's hash-chain head once the set's entry is in it (SEQ:HASH): keep it apart from the
    /// repository and give it to <c>blueback verify --expect-head</c>.</summary>
    [JsonPropertyName("chainHead")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ChainHead { get; set; }

    /// <summary>True only in the output of a backup that ended after its set's commit without finishing (exit 130 or 2).</summary>
    [JsonPropertyName("committed")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool Committed { get; set; }

    /// <summary>With <see cref="Committed"/>: "stopped", or the error that ended the backup after its commit.</summary>
    [JsonPropertyName("afterCommit")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? AfterCommit { get; set; }
}
