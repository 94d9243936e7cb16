using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/instances/{instance}/shipping: a shipper takes up shipping of the instance into a repository
/// that already holds every generation up to <see cref="ResumeAfter"/>.</summary>
public sealed class ShippingClaimRequest
{
    /// <summary>The shipper's own id (32 lowercase hex digits), chosen once per run: its lease.</summary>
    [JsonPropertyName("shipperId")] public string ShipperId { get; set; } = "";
    /// <summary>The id of the repository the shipper writes into; the server ships an instance into one repository at a
    /// time.</summary>
    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    /// <summary>Where the repository is (for status and messages only).</summary>
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    /// <summary>The last generation the repository already holds: shipping resumes with the next one.</summary>
    [JsonPropertyName("resumeAfter")] public uint ResumeAfter { get; set; }
}

/// <summary>The answer to a shipping claim: the lease is the shipper's, and where shipping stands.</summary>
public sealed class ShippingClaimResponse
{
    /// <summary>The instance claimed.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    /// <summary>The signature (32 hex digits) of the instance's log stream.</summary>
    [JsonPropertyName("logSignature")] public string LogSignature { get; set; } = "";
    /// <summary>The last generation the server records as shipped (acknowledged).</summary>
    [JsonPropertyName("shippedThrough")] public uint ShippedThrough { get; set; }
    /// <summary>The last generation closed and durable on the server, ready to be shipped.</summary>
    [JsonPropertyName("completeThrough")] public uint CompleteThrough { get; set; }
    /// <summary>The shipper renews its lease with every call; one silent this long loses the instance to another.</summary>
    [JsonPropertyName("leaseSeconds")] public int LeaseSeconds { get; set; }

    /// <summary>The codecs the server compresses chunk frames with (see <see cref="Routes.ShippingLogChunks"/>); null
    /// from a server that sends generations only raw.</summary>
    [JsonPropertyName("wireCodecs")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? WireCodecs { get; set; }
}

/// <summary>GET .../shipping/ready: every generation up to <see cref="CompleteThrough"/> is closed and durable.</summary>
public sealed class ShippingReady
{
    /// <summary>The last generation closed and durable on the server.</summary>
    [JsonPropertyName("completeThrough")] public uint CompleteThrough { get; set; }
    /// <summary>When the server closed the current generation for the shipper: every commit acknowledged before
    /// this time is in a generation up to <see cref="CompleteThrough"/>.</summary>
    [JsonPropertyName("cover")] public DateTime? Cover { get; set; }
    /// <summary>The server's clock when it answered (UTC).</summary>
    [JsonPropertyName("serverTime")] public DateTime ServerTime { get; set; }
}

/// <summary>POST .../shipping/ack: the repository holds every generation up to <see cref="Through"/>, durably.</summary>
public sealed class ShippingAckRequest
{
    /// <summary>The shipper's id, as in its claim.</summary>
    [JsonPropertyName("shipperId")] public string ShipperId { get; set; } = "";
    /// <summary>The repository's id, as in the claim.</summary>
    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    /// <summary>The last generation now durable in the repository.</summary>
    [JsonPropertyName("through")] public uint Through { get; set; }
}

/// <summary>The answer to a shipping acknowledgement.</summary>
public sealed class ShippingAckResponse
{
    /// <summary>The last generation the server now records as shipped.</summary>
    [JsonPropertyName("shippedThrough")] public uint ShippedThrough { get; set; }
    /// <summary>Generations the server deleted: shipped, and no longer needed by crash recovery or a backup.</summary>
    [JsonPropertyName("deleted")] public List<uint> Deleted { get; set; } = [];
}

/// <summary>Shipping of one instance, in its status.</summary>
public sealed class ShippingStatus
{
    /// <summary>Where the instance ships to (for display).</summary>
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    /// <summary>The id of the repository it ships to.</summary>
    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    /// <summary>The last generation acknowledged as shipped.</summary>
    [JsonPropertyName("shippedThrough")] public uint ShippedThrough { get; set; }
    /// <summary>When the last acknowledgement arrived (UTC), or null before the first.</summary>
    [JsonPropertyName("lastShipped")] public DateTime? LastShipped { get; set; }
    /// <summary>The oldest generation not yet shipped, or null when everything closed is shipped.</summary>
    [JsonPropertyName("oldestUnshipped")] public uint? OldestUnshipped { get; set; }
    /// <summary>Generations waiting to be shipped, kept on the server until they are.</summary>
    [JsonPropertyName("unshippedGenerations")] public int UnshippedGenerations { get; set; }
    /// <summary>Their size in bytes.</summary>
    [JsonPropertyName("unshippedBytes")] public long UnshippedBytes { get; set; }
    /// <summary>How long the oldest commit not yet in the repository has waited.</summary>
    [JsonPropertyName("lagSeconds")] public double LagSeconds { get; set; }
    /// <summary>Whether a shipper holds the lease now, and when it was last heard from.</summary>
    [JsonPropertyName("shipperConnected")] public bool ShipperConnected { get; set; }
    /// <summary>When a shipper last called (UTC), or null if none has since the server started.</summary>
    [JsonPropertyName("shipperLastSeen")] public DateTime? ShipperLastSeen { get; set; }
    /// <summary>Free bytes on the volume of the instance's logs, which unshipped generations fill.</summary>
    [JsonPropertyName("logVolumeFreeBytes")] public long LogVolumeFreeBytes { get; set; }
    /// <summary>What an operator should know (no shipper connected while generations wait, a filling volume), or
    /// null.</summary>
    [JsonPropertyName("warning")] public string? Warning { get; set; }
}
