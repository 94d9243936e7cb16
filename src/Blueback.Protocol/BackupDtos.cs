using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/instances/{instance}/backups.</summary>
public sealed class BeginBackupRequest
{
    /// <summary>full, copy, incremental or differential.</summary>
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    /// <summary>An id the client chose (32 hex digits), so that it can abort a session whose begin it cancelled
    /// before the answer arrived.</summary>
    [JsonPropertyName("id")]
    public string? Id { get; set; }

    /// <summary>A changed-pages incremental or differential: send the pages changed since the start of this generation
    /// (the first generation of the base set the client holds) instead of the logs since the previous backup.</summary>
    [JsonPropertyName("changedSince")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public uint? ChangedSince { get; set; }

    /// <summary>Take a digest of every table at the end of the log range (GET .../digest once the logs are listed),
    /// which a restore of the set must reproduce: what a proof compares.</summary>
    [JsonPropertyName("digest")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Digest { get; set; }
}

/// <summary>The tables' digests at the end of a backup's log range, or that they are still being computed.</summary>
public sealed class BackupDigestInfo
{
    [JsonPropertyName("ready")]
    public bool Ready { get; set; }

    [JsonPropertyName("tables")]
    public List<TableDigestInfo> Tables { get; set; } = [];
}

public sealed class TableDigestInfo
{
    [JsonPropertyName("database")] public string Database { get; set; } = "";
    [JsonPropertyName("table")] public string Table { get; set; } = "";
    [JsonPropertyName("rows")] public long Rows { get; set; }
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
}

public sealed class BackupSessionInfo
{
    [JsonPropertyName("id")]
    public string Id { get; set; } = "";

    /// <summary>Bytes of images, pages and logs the server has sent for this backup so far.</summary>
    [JsonPropertyName("bytesSent")]
    public long BytesSent { get; set; }

    [JsonPropertyName("instance")]
    public string Instance { get; set; } = "";

    [JsonPropertyName("type")]
    public string Type { get; set; } = "";

    [JsonPropertyName("state")]
    public string State { get; set; } = "";

    [JsonPropertyName("started")]
    public DateTime Started { get; set; }

    [JsonPropertyName("genLow")]
    public uint GenLow { get; set; }

    [JsonPropertyName("genHigh")]
    public uint? GenHigh { get; set; }

    [JsonPropertyName("leaseSeconds")]
    public double LeaseSeconds { get; set; }

    [JsonPropertyName("logSignature")]
    public string LogSignature { get; set; } = "";

    /// <summary>A changed-pages backup: the generation its page maps start from.</summary>
    [JsonPropertyName("changedSince")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public uint? ChangedSince { get; set; }

    [JsonPropertyName("databases")]
    public List<BackupDatabaseInfo> Databases { get; set; } = [];

    /// <summary>The server's clock when it answered (UTC): a backup program records the server's times, never its
    /// own, since point-in-time restore compares them with commit times the server wrote.</summary>
    [JsonPropertyName("serverTime")]
    public DateTime ServerTime { get; set; }

    /// <summary>Why a stream of this session failed, if one did.</summary>
    [JsonPropertyName("error")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; set; }
}

public sealed class BackupDatabaseInfo
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("id")]
    public int Id { get; set; }

    [JsonPropertyName("signature")]
    public string Signature { get; set; } = "";

    [JsonPropertyName("pageSize")]
    public int PageSize { get; set; }

    [JsonPropertyName("imageSize")]
    public long ImageSize { get; set; }

    /// <summary>A changed-pages backup: how many pages changed (read them from the pages route, of
    /// <see cref="ChangedPagesSize"/> bytes); null when they cannot be known, and then <see cref="ChangedPagesProblem"/>
    /// says why and the whole image is read instead.</summary>
    [JsonPropertyName("changedPages")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ChangedPages { get; set; }

    [JsonPropertyName("changedPagesSize")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? ChangedPagesSize { get; set; }

    [JsonPropertyName("changedPagesProblem")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ChangedPagesProblem { get; set; }
}

public sealed class BackupLogsInfo
{
    [JsonPropertyName("genLow")]
    public uint GenLow { get; set; }

    /// <summary>The server's clock just before it closed the backup's last generation: every transaction
    /// committed at or before this time is in the listed generations.</summary>
    [JsonPropertyName("logsCover")]
    public DateTime LogsCover { get; set; }

    [JsonPropertyName("genHigh")]
    public uint GenHigh { get; set; }

    [JsonPropertyName("generations")]
    public List<BackupLogInfo> Generations { get; set; } = [];
}

public sealed class BackupLogInfo
{
    [JsonPropertyName("generation")]
    public uint Generation { get; set; }

    [JsonPropertyName("file")]
    public string File { get; set; } = "";

    [JsonPropertyName("size")]
    public long Size { get; set; }
}

public sealed class TruncateResponse
{
    [JsonPropertyName("deleted")]
    public List<uint> Deleted { get; set; } = [];
}

public sealed class BackupSessionList
{
    [JsonPropertyName("sessions")]
    public List<BackupSessionInfo> Sessions { get; set; } = [];
}
