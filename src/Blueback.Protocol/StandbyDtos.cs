using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>A warm standby, in its instance's status.</summary>
public sealed class StandbyStatus
{
    /// <summary>starting (restoring the full set), following, promoting, promoted, or failed.</summary>
    [JsonPropertyName("state")] public string State { get; set; } = "";
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    [JsonPropertyName("logSignature")] public string LogSignature { get; set; } = "";
    [JsonPropertyName("appliedThrough")] public uint AppliedThrough { get; set; }
    [JsonPropertyName("appliedPosition")] public string AppliedPosition { get; set; } = "";
    [JsonPropertyName("lastCommit")] public DateTime? LastCommit { get; set; }
    [JsonPropertyName("lastApplied")] public DateTime? LastApplied { get; set; }
    [JsonPropertyName("transactionsApplied")] public long TransactionsApplied { get; set; }
    /// <summary>The newest generation of the primary's log stream in the repository, and how far behind it the
    /// standby is: in generations, and in commit time (the primary's newest shipped commit against the standby's).</summary>
    [JsonPropertyName("primaryShippedThrough")] public uint PrimaryShippedThrough { get; set; }
    [JsonPropertyName("lagGenerations")] public long LagGenerations { get; set; }
    [JsonPropertyName("lagSeconds")] public double LagSeconds { get; set; }
    [JsonPropertyName("lastError")] public string? LastError { get; set; }
    [JsonPropertyName("promoted")] public DateTime? Promoted { get; set; }
    [JsonPropertyName("newLogSignature")] public string? NewLogSignature { get; set; }
}

/// <summary>POST /v1/instances/{instance}/promote.</summary>
public sealed class PromoteResponse
{
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    [JsonPropertyName("appliedThrough")] public uint AppliedThrough { get; set; }
    [JsonPropertyName("lastCommit")] public DateTime? LastCommit { get; set; }
    [JsonPropertyName("newLogSignature")] public string NewLogSignature { get; set; } = "";
    [JsonPropertyName("seconds")] public double Seconds { get; set; }
    /// <summary>Set when the last look at the repository failed: the standby was promoted with what it had applied.</summary>
    [JsonPropertyName("warning")] public string? Warning { get; set; }
}
