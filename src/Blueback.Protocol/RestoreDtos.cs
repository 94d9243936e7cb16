using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/instances/{instance}/restores: what is about to be restored into the instance, so the server
/// can write its restore record. The files follow one by one; recovery runs when the client asks.</summary>
public sealed class BeginRestoreRequest
{
    /// <summary>"new" (the instance must not be online; the default) or "replace" (take the instance offline and
    /// restore over it, playing forward through its own later logs).</summary>
    [JsonPropertyName("mode")] public string? Mode { get; set; }

    /// <summary>An id the client chose (32 lowercase hex digits), so that it can abort a session whose begin it
    /// cancelled before the answer arrived.</summary>
    [JsonPropertyName("id")] public string? Id { get; set; }

    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    [JsonPropertyName("sets")] public List<string> Sets { get; set; } = [];
    [JsonPropertyName("sourceInstance")] public string SourceInstance { get; set; } = "";
    [JsonPropertyName("sourceServer")] public string SourceServer { get; set; } = "";
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }
    [JsonPropertyName("consistentAfter")] public uint ConsistentAfter { get; set; }
    /// <summary>A stop point: "GEN:OFFSET" or an ISO 8601 time; null for the end of the logs.</summary>
    [JsonPropertyName("stop")] public string? Stop { get; set; }
    [JsonPropertyName("playForward")] public bool PlayForward { get; set; } = true;
    [JsonPropertyName("upToContiguous")] public bool UpToContiguous { get; set; }
}

public sealed class RestoreSessionInfo
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    [JsonPropertyName("mode")] public string Mode { get; set; } = "";
    /// <summary>receiving, recovering, done, failed or aborted.</summary>
    [JsonPropertyName("state")] public string State { get; set; } = "";
    [JsonPropertyName("started")] public DateTime Started { get; set; }
    [JsonPropertyName("leaseSeconds")] public double LeaseSeconds { get; set; }
    [JsonPropertyName("filesWritten")] public int FilesWritten { get; set; }
    [JsonPropertyName("bytesWritten")] public long BytesWritten { get; set; }
    /// <summary>What recovery is doing now.</summary>
    [JsonPropertyName("phase")] public string? Phase { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }
    [JsonPropertyName("result")] public RestoreResultInfo? Result { get; set; }
}

/// <summary>What hard recovery did, once a restore is done.</summary>
public sealed class RestoreResultInfo
{
    [JsonPropertyName("from")] public string From { get; set; } = "";
    [JsonPropertyName("end")] public string End { get; set; } = "";
    [JsonPropertyName("transactionsReplayed")] public long TransactionsReplayed { get; set; }
    [JsonPropertyName("pagesApplied")] public long PagesApplied { get; set; }
    [JsonPropertyName("stopReached")] public bool StopReached { get; set; }
    [JsonPropertyName("endReason")] public string? EndReason { get; set; }
    [JsonPropertyName("lastCommitTime")] public DateTime? LastCommitTime { get; set; }
    [JsonPropertyName("setAside")] public string? SetAside { get; set; }
}

public sealed class RestoreSessionList
{
    [JsonPropertyName("sessions")] public List<RestoreSessionInfo> Sessions { get; set; } = [];
}
