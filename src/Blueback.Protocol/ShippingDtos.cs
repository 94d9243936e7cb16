using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/instances/{instance}/shipping: a shipper takes up shipping of the instance into a repository
/// that already holds every generation up to <see cref="ResumeAfter"/>.</summary>
public sealed class ShippingClaimRequest
{
    /// <summary>The shipper's own id (32 lowercase hex digits), chosen once per run: its lease.</summary>
    [JsonPropertyName("shipperId")] public string ShipperId { get; set; } = "";
    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    /// <summary>Where the repository is (for status and messages only).</summary>
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    [JsonPropertyName("resumeAfter")] public uint ResumeAfter { get; set; }
}

public sealed class ShippingClaimResponse
{
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    [JsonPropertyName("logSignature")] public string LogSignature { get; set; } = "";
    [JsonPropertyName("shippedThrough")] public uint ShippedThrough { get; set; }
    [JsonPropertyName("completeThrough")] public uint CompleteThrough { get; set; }
    /// <summary>The shipper renews its lease with every call; one silent this long loses the instance to another.</summary>
    [JsonPropertyName("leaseSeconds")] public int LeaseSeconds { get; set; }
}

/// <summary>GET .../shipping/ready: every generation up to <see cref="CompleteThrough"/> is closed and durable.</summary>
public sealed class ShippingReady
{
    [JsonPropertyName("completeThrough")] public uint CompleteThrough { get; set; }
    /// <summary>When the server closed the current generation for the shipper: every commit acknowledged before
    /// this time is in a generation up to <see cref="CompleteThrough"/>.</summary>
    [JsonPropertyName("cover")] public DateTime? Cover { get; set; }
    [JsonPropertyName("serverTime")] public DateTime ServerTime { get; set; }
}

/// <summary>POST .../shipping/ack: the repository holds every generation up to <see cref="Through"/>, durably.</summary>
public sealed class ShippingAckRequest
{
    [JsonPropertyName("shipperId")] public string ShipperId { get; set; } = "";
    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    [JsonPropertyName("through")] public uint Through { get; set; }
}

public sealed class ShippingAckResponse
{
    [JsonPropertyName("shippedThrough")] public uint ShippedThrough { get; set; }
    /// <summary>Generations the server deleted: shipped, and no longer needed by crash recovery or a backup.</summary>
    [JsonPropertyName("deleted")] public List<uint> Deleted { get; set; } = [];
}

/// <summary>Shipping of one instance, in its status.</summary>
public sealed class ShippingStatus
{
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    [JsonPropertyName("shippedThrough")] public uint ShippedThrough { get; set; }
    [JsonPropertyName("lastShipped")] public DateTime? LastShipped { get; set; }
    [JsonPropertyName("oldestUnshipped")] public uint? OldestUnshipped { get; set; }
    [JsonPropertyName("unshippedGenerations")] public int UnshippedGenerations { get; set; }
    [JsonPropertyName("unshippedBytes")] public long UnshippedBytes { get; set; }
    /// <summary>How long the oldest commit not yet in the repository has waited.</summary>
    [JsonPropertyName("lagSeconds")] public double LagSeconds { get; set; }
    /// <summary>Whether a shipper holds the lease now, and when it was last heard from.</summary>
    [JsonPropertyName("shipperConnected")] public bool ShipperConnected { get; set; }
    [JsonPropertyName("shipperLastSeen")] public DateTime? ShipperLastSeen { get; set; }
    [JsonPropertyName("logVolumeFreeBytes")] public long LogVolumeFreeBytes { get; set; }
    [JsonPropertyName("warning")] public string? Warning { get; set; }
}
