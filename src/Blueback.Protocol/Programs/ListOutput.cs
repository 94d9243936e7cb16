using System.Text.Json.Serialization;

namespace Blueback.Protocol.Programs;

/// <summary>A committed set as <c>blueback list --json</c> prints it (one element of its array), with the outcome of
/// its last verify and proof.</summary>
public sealed class ListedSet
{
    /// <summary>The set's last verify; null if never verified.</summary>
    [JsonPropertyName("verified")] public ListedVerify? Verified { get; set; }

    /// <summary>The set's last proof; null if never proven.</summary>
    [JsonPropertyName("proved")] public ProofOutcome? Proved { get; set; }

    /// <summary>With <c>list --also REPO</c>: whether that second repository holds the set too (a committed manifest of
    /// the same id); null when no second repository was named.</summary>
    [JsonPropertyName("alsoIn")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? AlsoIn { get; set; }

    /// <summary>In an immutable repository: the lock settings ("30 day(s), compliance") and the earliest moment the
    /// set's manifest can be removed (its end plus the retention; the lock is counted from the manifest's write, a
    /// moment later). Null in a plain repository.</summary>
    [JsonPropertyName("immutable")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Immutable { get; set; }
    /// <summary>See <see cref="Immutable"/>.</summary>
    [JsonPropertyName("lockedUntil")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? LockedUntil { get; set; }

    /// <summary>Whether the set records its tables' digests.</summary>
    [JsonPropertyName("digest")] public bool Digest { get; set; }

    /// <summary>The set's id.</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";

    /// <summary>The instance backed up.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";

    /// <summary>full, incremental, differential or copy.</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";

    /// <summary>A changed-pages set: the generation its pages are listed from; null otherwise.</summary>
    [JsonPropertyName("changedSince")] public uint? ChangedSince { get; set; }

    /// <summary>A full set that did not read again the pages unchanged since this set began (<c>--skip-unchanged</c>); null
    /// when every page was read.</summary>
    [JsonPropertyName("unchangedFrom")] public string? UnchangedFrom { get; set; }

    /// <summary>When the backup began (UTC).</summary>
    [JsonPropertyName("started")] public DateTime Started { get; set; }

    /// <summary>When the backup ended (UTC).</summary>
    [JsonPropertyName("ended")] public DateTime Ended { get; set; }

    /// <summary>The set's lowest log generation.</summary>
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }

    /// <summary>The set's highest log generation.</summary>
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }

    /// <summary>The set this one depends on; null for a full or copy.</summary>
    [JsonPropertyName("parent")] public string? Parent { get; set; }

    /// <summary>Bytes of the files the set holds.</summary>
    [JsonPropertyName("size")] public long Size { get; set; }

    /// <summary>Bytes the set's chunks take in the repository (shared chunks counted in every set naming them).</summary>
    [JsonPropertyName("stored")] public long Stored { get; set; }

    /// <summary>The repository's hash-chain head when listed (SEQ:HASH; the same in every element): keep it apart from
    /// the repository for <c>blueback verify --expect-head</c>. Null when the repository has no chain yet.</summary>
    [JsonPropertyName("chainHead")] public string? ChainHead { get; set; }
}

/// <summary>A verify's outcome, as listed.</summary>
public sealed class ListedVerify
{
    /// <summary>When the verify ended (UTC).</summary>
    [JsonPropertyName("time")] public DateTime Time { get; set; }

    /// <summary>Whether nothing was wrong.</summary>
    [JsonPropertyName("ok")] public bool Ok { get; set; }

    /// <summary>How many problems it found.</summary>
    [JsonPropertyName("problems")] public int Problems { get; set; }
}

/// <summary>A range of shipped log generations as <c>blueback list --json</c> prints it (type "shipped").</summary>
public sealed class ListedShippedRange
{
    /// <summary>Where the range lives in the repository.</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";

    /// <summary>The instance whose log it is.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";

    /// <summary>Always "shipped".</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "shipped";

    /// <summary>The log stream's signature.</summary>
    [JsonPropertyName("logSignature")] public string LogSignature { get; set; } = "";

    /// <summary>The first generation restore can replay.</summary>
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }

    /// <summary>The last generation restore can replay.</summary>
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }

    /// <summary>How many generations the range holds.</summary>
    [JsonPropertyName("generations")] public int Generations { get; set; }

    /// <summary>The newest full or copy set the range continues; null if none (restore cannot use it).</summary>
    [JsonPropertyName("attachedTo")] public string? AttachedTo { get; set; }

    /// <summary>The time of the last commit the range holds (UTC).</summary>
    [JsonPropertyName("cover")] public DateTime? Cover { get; set; }

    /// <summary>Seconds between <see cref="Cover"/> and the listing.</summary>
    [JsonPropertyName("lagSeconds")] public double? LagSeconds { get; set; }

    /// <summary>Generations after a gap, never replayed.</summary>
    [JsonPropertyName("stranded")] public int Stranded { get; set; }

    /// <summary>The repository's hash-chain head when listed, as in <see cref="ListedSet.ChainHead"/>.</summary>
    [JsonPropertyName("chainHead")] public string? ChainHead { get; set; }
}
