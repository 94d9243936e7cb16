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
    /// <summary>False while the digests are being computed: ask again.</summary>
    [JsonPropertyName("ready")]
    public bool Ready { get; set; }

    /// <summary>One digest per table, once ready.</summary>
    [JsonPropertyName("tables")]
    public List<TableDigestInfo> Tables { get; set; } = [];
}

/// <summary>The digest of one table: its row count and the SHA-256 of its keys and values in order.</summary>
public sealed class TableDigestInfo
{
    /// <summary>The table's database.</summary>
    [JsonPropertyName("database")] public string Database { get; set; } = "";
    /// <summary>The table's name.</summary>
    [JsonPropertyName("table")] public string Table { get; set; } = "";
    /// <summary>Its rows (keys).</summary>
    [JsonPropertyName("rows")] public long Rows { get; set; }
    /// <summary>The SHA-256 of its rows in key order, lowercase hex.</summary>
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
}

/// <summary>A backup session as the server describes it: the answer to its begin and GET /v1/backups/{id}.</summary>
public sealed class BackupSessionInfo
{
    /// <summary>The session's id (32 hex digits).</summary>
    [JsonPropertyName("id")]
    public string Id { get; set; } = "";

    /// <summary>Bytes of images, pages and logs the server has sent for this backup so far.</summary>
    [JsonPropertyName("bytesSent")]
    public long BytesSent { get; set; }

    /// <summary>What the server will send in all: the images (or changed pages) a backup of this type reads, and its
    /// log generations (up to the current one while the range is open). The denominator of the console's progress.</summary>
    [JsonPropertyName("totalBytes")]
    public long TotalBytes { get; set; }

    /// <summary>The instance being backed up.</summary>
    [JsonPropertyName("instance")]
    public string Instance { get; set; } = "";

    /// <summary>full, copy, incremental or differential.</summary>
    [JsonPropertyName("type")]
    public string Type { get; set; } = "";

    /// <summary>images (database images may be read), logs (the log range is fixed), truncated, ended or
    /// aborted.</summary>
    [JsonPropertyName("state")]
    public string State { get; set; } = "";

    /// <summary>When the session began (UTC).</summary>
    [JsonPropertyName("started")]
    public DateTime Started { get; set; }

    /// <summary>The first log generation the backup holds.</summary>
    [JsonPropertyName("genLow")]
    public uint GenLow { get; set; }

    /// <summary>The last log generation the backup holds, once the log range is fixed; null before.</summary>
    [JsonPropertyName("genHigh")]
    public uint? GenHigh { get; set; }

    /// <summary>The session's lease in seconds: a session none of whose calls arrives within it is aborted.</summary>
    [JsonPropertyName("leaseSeconds")]
    public double LeaseSeconds { get; set; }

    /// <summary>The signature (32 hex digits) of the instance's log stream.</summary>
    [JsonPropertyName("logSignature")]
    public string LogSignature { get; set; } = "";

    /// <summary>A changed-pages backup: the generation its page maps start from.</summary>
    [JsonPropertyName("changedSince")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public uint? ChangedSince { get; set; }

    /// <summary>The databases the backup holds.</summary>
    [JsonPropertyName("databases")]
    public List<BackupDatabaseInfo> Databases { get; set; } = [];

    /// <summary>The server's clock when it answered (UTC): a backup program records the server's times, never its
    /// own, since point-in-time restore compares them with commit times the server wrote.</summary>
    [JsonPropertyName("serverTime")]
    public DateTime ServerTime { get; set; }

    /// <summary>The codecs the server compresses chunk frames with ("zstd", "none"); null from a server that sends
    /// only raw streams (the program then compresses).</summary>
    [JsonPropertyName("wireCodecs")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? WireCodecs { get; set; }

    /// <summary>Why a stream of this session failed, if one did.</summary>
    [JsonPropertyName("error")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; set; }
}

/// <summary>One database of a backup session.</summary>
public sealed class BackupDatabaseInfo
{
    /// <summary>The database's name.</summary>
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    /// <summary>Its number in the instance.</summary>
    [JsonPropertyName("id")]
    public int Id { get; set; }

    /// <summary>Its signature (32 hex digits), which its pages and the log records for it carry.</summary>
    [JsonPropertyName("signature")]
    public string Signature { get; set; } = "";

    /// <summary>Its page size in bytes.</summary>
    [JsonPropertyName("pageSize")]
    public int PageSize { get; set; }

    /// <summary>The size of its image in bytes, as the backup reads it.</summary>
    [JsonPropertyName("imageSize")]
    public long ImageSize { get; set; }

    /// <summary>A changed-pages backup: how many pages changed (read them from the pages route, of
    /// <see cref="ChangedPagesSize"/> bytes); null when they cannot be known, and then <see cref="ChangedPagesProblem"/>
    /// says why and the whole image is read instead.</summary>
    [JsonPropertyName("changedPages")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ChangedPages { get; set; }

    /// <summary>A changed-pages backup: the bytes the pages route sends; null when <see cref="ChangedPages"/>
    /// is.</summary>
    [JsonPropertyName("changedPagesSize")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? ChangedPagesSize { get; set; }

    /// <summary>Why the changed pages cannot be known (then the image is read whole), or null.</summary>
    [JsonPropertyName("changedPagesProblem")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ChangedPagesProblem { get; set; }
}

/// <summary>The answer to fixing a backup's log range: the generations to read.</summary>
public sealed class BackupLogsInfo
{
    /// <summary>The first generation of the range.</summary>
    [JsonPropertyName("genLow")]
    public uint GenLow { get; set; }

    /// <summary>The server's clock just before it closed the backup's last generation: every transaction
    /// committed at or before this time is in the listed generations.</summary>
    [JsonPropertyName("logsCover")]
    public DateTime LogsCover { get; set; }

    /// <summary>The last generation of the range.</summary>
    [JsonPropertyName("genHigh")]
    public uint GenHigh { get; set; }

    /// <summary>Each generation to read, in order.</summary>
    [JsonPropertyName("generations")]
    public List<BackupLogInfo> Generations { get; set; } = [];
}

/// <summary>One log generation of a backup.</summary>
public sealed class BackupLogInfo
{
    /// <summary>Its number.</summary>
    [JsonPropertyName("generation")]
    public uint Generation { get; set; }

    /// <summary>Its file name on the server.</summary>
    [JsonPropertyName("file")]
    public string File { get; set; } = "";

    /// <summary>Its size in bytes.</summary>
    [JsonPropertyName("size")]
    public long Size { get; set; }
}

/// <summary>The answer to a backup's truncate.</summary>
public sealed class TruncateResponse
{
    /// <summary>The generations deleted (backed up and behind the checkpoint).</summary>
    [JsonPropertyName("deleted")]
    public List<uint> Deleted { get; set; } = [];
}

/// <summary>GET /v1/backups: the backup sessions running now.</summary>
public sealed class BackupSessionList
{
    /// <summary>The backup sessions running now.</summary>
    [JsonPropertyName("sessions")]
    public List<BackupSessionInfo> Sessions { get; set; } = [];
}
