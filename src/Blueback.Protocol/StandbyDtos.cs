using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>A warm standby, in its instance's status.</summary>
public sealed class StandbyStatus
{
    /// <summary>starting (restoring the full set), following, promoting, promoted, or failed.</summary>
    [JsonPropertyName("state")] public string State { get; set; } = "";
    /// <summary>The repository the standby follows (a directory or s3://BUCKET/PREFIX).</summary>
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    /// <summary>The signature (32 hex digits) of the primary's log stream the standby replays.</summary>
    [JsonPropertyName("logSignature")] public string LogSignature { get; set; } = "";
    /// <summary>The last log generation the standby has applied.</summary>
    [JsonPropertyName("appliedThrough")] public uint AppliedThrough { get; set; }
    /// <summary>Where replay stands in the log, "GEN:OFFSET".</summary>
    [JsonPropertyName("appliedPosition")] public string AppliedPosition { get; set; } = "";
    /// <summary>The commit time (UTC) of the last transaction applied, or null before the first.</summary>
    [JsonPropertyName("lastCommit")] public DateTime? LastCommit { get; set; }
    /// <summary>When (UTC, the standby's clock) it last applied anything, or null.</summary>
    [JsonPropertyName("lastApplied")] public DateTime? LastApplied { get; set; }
    /// <summary>Transactions replayed since the standby started.</summary>
    [JsonPropertyName("transactionsApplied")] public long TransactionsApplied { get; set; }
    /// <summary>The newest generation of the primary's log stream in the repository, and how far behind it the
    /// standby is: in generations, and in commit time (the primary's newest shipped commit against the standby's).</summary>
    [JsonPropertyName("primaryShippedThrough")] public uint PrimaryShippedThrough { get; set; }
    /// <summary>Generations shipped by the primary and not yet applied (see
    /// <see cref="PrimaryShippedThrough"/>).</summary>
    [JsonPropertyName("lagGenerations")] public long LagGenerations { get; set; }
    /// <summary>Seconds between the primary's newest shipped commit and the standby's last applied one.</summary>
    [JsonPropertyName("lagSeconds")] public double LagSeconds { get; set; }
    /// <summary>The last error following the repository, or null.</summary>
    [JsonPropertyName("lastError")] public string? LastError { get; set; }
    /// <summary>When it was promoted (UTC), or null while it is a standby.</summary>
    [JsonPropertyName("promoted")] public DateTime? Promoted { get; set; }
    /// <summary>Once promoted: the signature of the new log stream it writes, or null.</summary>
    [JsonPropertyName("newLogSignature")] public string? NewLogSignature { get; set; }
    /// <summary>A lagged standby's apply delay in seconds (blueback standby --apply-delay); 0 when it applies at once.</summary>
    [JsonPropertyName("applyDelaySeconds")] public double ApplyDelaySeconds { get; set; }
    /// <summary>Generations a lagged standby has fetched and not yet applied (whole, or the rest of one it stopped
    /// inside).</summary>
    [JsonPropertyName("waitingGenerations")] public int WaitingGenerations { get; set; }
    /// <summary>The bytes of those generations after where replay stands.</summary>
    [JsonPropertyName("waitingBytes")] public long WaitingBytes { get; set; }
    /// <summary>The commit time (UTC) of the oldest transaction fetched and held back, or null when none waits.</summary>
    [JsonPropertyName("oldestWaitingCommit")] public DateTime? OldestWaitingCommit { get; set; }
    /// <summary>The delay held now: seconds since the oldest transaction held back committed (0 when none waits); it
    /// stays at or under applyDelaySeconds plus a poll while the standby holds its delay.</summary>
    [JsonPropertyName("heldSeconds")] public double HeldSeconds { get; set; }
    /// <summary>Why a lagged standby is playing down early (its log volume is low), or null while it holds its delay.</summary>
    [JsonPropertyName("playDown")] public string? PlayDown { get; set; }
    /// <summary>Applies made early for a low log volume since the standby started.</summary>
    [JsonPropertyName("playDowns")] public long PlayDowns { get; set; }
}

/// <summary>POST /v1/instances/{instance}/promote.</summary>
public sealed class PromoteResponse
{
    /// <summary>The promoted instance.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    /// <summary>The last generation of the old log stream applied before promotion.</summary>
    [JsonPropertyName("appliedThrough")] public uint AppliedThrough { get; set; }
    /// <summary>The commit time (UTC) of the last transaction applied, or null if none was.</summary>
    [JsonPropertyName("lastCommit")] public DateTime? LastCommit { get; set; }
    /// <summary>The signature (32 hex digits) of the new log stream the instance now writes.</summary>
    [JsonPropertyName("newLogSignature")] public string NewLogSignature { get; set; } = "";
    /// <summary>The stop point asked for (a time or GEN:OFFSET), or null when everything shipped was applied.</summary>
    [JsonPropertyName("stop")] public string? Stop { get; set; }
    /// <summary>Where replay of the old log stream ended, "GEN:OFFSET".</summary>
    [JsonPropertyName("appliedPosition")] public string AppliedPosition { get; set; } = "";
    /// <summary>How long the promotion took, in seconds.</summary>
    [JsonPropertyName("seconds")] public double Seconds { get; set; }
    /// <summary>Set when the last look at the repository failed: the standby was promoted with what it had applied.</summary>
    [JsonPropertyName("warning")] public string? Warning { get; set; }
}
