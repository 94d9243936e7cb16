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

    /// <summary>The repository the files come from (recorded in the instance's restore record).</summary>
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    /// <summary>The ids of the sets restored, the full set first, then the chain after it in order.</summary>
    [JsonPropertyName("sets")] public List<string> Sets { get; set; } = [];
    /// <summary>The instance the sets were backed up from.</summary>
    [JsonPropertyName("sourceInstance")] public string SourceInstance { get; set; } = "";
    /// <summary>The server the sets were backed up from, as the sets recorded it.</summary>
    [JsonPropertyName("sourceServer")] public string SourceServer { get; set; } = "";
    /// <summary>The first log generation recovery needs (the full set's first).</summary>
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }
    /// <summary>The last log generation the sets hold (the last set's last); every one from <see cref="GenLow"/> must
    /// arrive.</summary>
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }
    /// <summary>The last generation of the set holding the database images: no stop point may lie before its end (0: the
    /// same as <see cref="GenHigh"/>).</summary>
    [JsonPropertyName("consistentAfter")] public uint ConsistentAfter { get; set; }
    /// <summary>A stop point: "GEN:OFFSET" or an ISO 8601 time; null for the end of the logs.</summary>
    [JsonPropertyName("stop")] public string? Stop { get; set; }
    /// <summary>After the restored generations, replay the later ones the instance's own log directory holds (the
    /// default), instead of stopping at <see cref="GenHigh"/>.</summary>
    [JsonPropertyName("playForward")] public bool PlayForward { get; set; } = true;
    /// <summary>Let a missing or damaged generation after <see cref="GenHigh"/> end replay there instead of failing the
    /// restore.</summary>
    [JsonPropertyName("upToContiguous")] public bool UpToContiguous { get; set; }
}

/// <summary>An online restore session as the server describes it (GET /v1/restores/{id}, and in the list of
/// sessions).</summary>
public sealed class RestoreSessionInfo
{
    /// <summary>The session's id (32 lowercase hex digits).</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>The instance being restored.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    /// <summary>"new" or "replace" (see <see cref="BeginRestoreRequest.Mode"/>).</summary>
    [JsonPropertyName("mode")] public string Mode { get; set; } = "";
    /// <summary>receiving, recovering, done, failed or aborted.</summary>
    [JsonPropertyName("state")] public string State { get; set; } = "";
    /// <summary>When the session began (UTC).</summary>
    [JsonPropertyName("started")] public DateTime Started { get; set; }
    /// <summary>The session's lease, in seconds: a session none of whose calls arrives within it is aborted.</summary>
    [JsonPropertyName("leaseSeconds")] public double LeaseSeconds { get; set; }
    /// <summary>Files (database images, page sets, log generations) received and checked so far.</summary>
    [JsonPropertyName("filesWritten")] public int FilesWritten { get; set; }
    /// <summary>Bytes of those files written so far.</summary>
    [JsonPropertyName("bytesWritten")] public long BytesWritten { get; set; }
    /// <summary>What recovery is doing now.</summary>
    [JsonPropertyName("phase")] public string? Phase { get; set; }
    /// <summary>Why the session failed or was aborted, or null.</summary>
    [JsonPropertyName("error")] public string? Error { get; set; }
    /// <summary>What hard recovery did, once the state is done; null before.</summary>
    [JsonPropertyName("result")] public RestoreResultInfo? Result { get; set; }
    /// <summary>The upload encodings this server takes besides a file's bytes (<see cref="Routes.ChunkFramesEncoding"/>);
    /// empty from a server that takes only bytes.</summary>
    [JsonPropertyName("uploadEncodings")] public List<string> UploadEncodings { get; set; } = [];
}

/// <summary>What hard recovery did, once a restore is done.</summary>
public sealed class RestoreResultInfo
{
    /// <summary>Where replay started in the log, "GEN:OFFSET".</summary>
    [JsonPropertyName("from")] public string From { get; set; } = "";
    /// <summary>Where the recovered log ends, "GEN:OFFSET".</summary>
    [JsonPropertyName("end")] public string End { get; set; } = "";
    /// <summary>Transactions replayed from the logs.</summary>
    [JsonPropertyName("transactionsReplayed")] public long TransactionsReplayed { get; set; }
    /// <summary>Page images written by replay.</summary>
    [JsonPropertyName("pagesApplied")] public long PagesApplied { get; set; }
    /// <summary>True when the restore asked for a stop point and replay stopped exactly there.</summary>
    [JsonPropertyName("stopReached")] public bool StopReached { get; set; }
    /// <summary>Why replay ended where it did (the end of the logs, the stop point, a gap it was allowed to stop at), or
    /// null.</summary>
    [JsonPropertyName("endReason")] public string? EndReason { get; set; }
    /// <summary>The commit time (UTC) of the last transaction replayed, or null if none was.</summary>
    [JsonPropertyName("lastCommitTime")] public DateTime? LastCommitTime { get; set; }
    /// <summary>Where generations after the stop point were moved (never deleted), or null when none were.</summary>
    [JsonPropertyName("setAside")] public string? SetAside { get; set; }
}

/// <summary>GET /v1/restores: the server's restore sessions.</summary>
public sealed class RestoreSessionList
{
    /// <summary>The restore sessions running now.</summary>
    [JsonPropertyName("sessions")] public List<RestoreSessionInfo> Sessions { get; set; } = [];
}
