using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>GET /v1/status.</summary>
public sealed class StatusResponse
{
    /// <summary>The server's name (its host name unless configured).</summary>
    [JsonPropertyName("server")]
    public string Server { get; set; } = "";

    /// <summary>The server's version.</summary>
    [JsonPropertyName("version")]
    public string Version { get; set; } = "";

    /// <summary>When the server started (UTC).</summary>
    [JsonPropertyName("started")]
    public DateTime Started { get; set; }

    /// <summary>Every instance the server hosts, online or not.</summary>
    [JsonPropertyName("instances")]
    public List<InstanceStatus> Instances { get; set; } = [];
}

/// <summary>One instance (a log stream and its databases) in the server's status.</summary>
public sealed class InstanceStatus
{
    /// <summary>The instance's name.</summary>
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    /// <summary>online, standby, mounted (a backup set, read-only), restoring, offline (see <see cref="Detail"/>) or
    /// stopped-after-error.</summary>
    [JsonPropertyName("state")]
    public string State { get; set; } = "";

    /// <summary>Why an instance is not online (being restored, or left offline by a restore that did not finish).</summary>
    [JsonPropertyName("detail")]
    public string? Detail { get; set; }

    /// <summary>Pages that failed their checksum in a read and were repaired from the server's repair source
    /// (blueback serve --repair-from) since the instance opened.</summary>
    [JsonPropertyName("pagesRepaired")]
    public long PagesRepaired { get; set; }

    /// <summary>True when the instance deletes log generations after each checkpoint instead of keeping them for backups
    /// (no incrementals then).</summary>
    [JsonPropertyName("circularLogging")]
    public bool CircularLogging { get; set; }

    /// <summary>The signature (32 hex digits) of the instance's log stream; a restore or promotion starts a new
    /// one.</summary>
    [JsonPropertyName("logSignature")]
    public string LogSignature { get; set; } = "";

    /// <summary>Where crash recovery would start, "GEN:OFFSET".</summary>
    [JsonPropertyName("checkpoint")]
    public string Checkpoint { get; set; } = "";

    /// <summary>The end of the log, "GEN:OFFSET".</summary>
    [JsonPropertyName("logPosition")]
    public string LogPosition { get; set; } = "";

    /// <summary>The oldest log generation on disk (0 when none).</summary>
    [JsonPropertyName("oldestGeneration")]
    public uint OldestGeneration { get; set; }

    /// <summary>The generation being written.</summary>
    [JsonPropertyName("currentGeneration")]
    public uint CurrentGeneration { get; set; }

    /// <summary>What the last open of the instance did (clean or recovered), or null.</summary>
    [JsonPropertyName("lastOpen")]
    public OpenStatus? LastOpen { get; set; }

    /// <summary>True while a backup session of the instance runs.</summary>
    [JsonPropertyName("backupInProgress")]
    public bool BackupInProgress { get; set; }

    /// <summary>Log shipping of the instance, or null when nothing ships it.</summary>
    [JsonPropertyName("shipping")]
    public ShippingStatus? Shipping { get; set; }

    /// <summary>The warm standby this instance is (or was, until promoted), or null.</summary>
    [JsonPropertyName("standby")]
    public StandbyStatus? Standby { get; set; }

    /// <summary>The backup set this instance is a read-only mount of (blueback mount), or null.</summary>
    [JsonPropertyName("mount")]
    public MountStatus? Mount { get; set; }

    /// <summary>The instance's databases.</summary>
    [JsonPropertyName("databases")]
    public List<DatabaseStatus> Databases { get; set; } = [];
}

/// <summary>What opening an instance did: found it clean, or ran crash recovery.</summary>
public sealed class OpenStatus
{
    /// <summary>True when the instance had been closed cleanly and nothing was replayed.</summary>
    [JsonPropertyName("clean")]
    public bool Clean { get; set; }

    /// <summary>Transactions crash recovery replayed.</summary>
    [JsonPropertyName("transactionsReplayed")]
    public long TransactionsReplayed { get; set; }

    /// <summary>Where replay started, "GEN:OFFSET".</summary>
    [JsonPropertyName("recoveredFrom")]
    public string RecoveredFrom { get; set; } = "";

    /// <summary>Where the log ended, "GEN:OFFSET".</summary>
    [JsonPropertyName("recoveredTo")]
    public string RecoveredTo { get; set; } = "";
}

/// <summary>One database of an instance in the server's status.</summary>
public sealed class DatabaseStatus
{
    /// <summary>The database's name.</summary>
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    /// <summary>The database file's size in bytes.</summary>
    [JsonPropertyName("sizeBytes")]
    public long SizeBytes { get; set; }

    /// <summary>Its page size in bytes.</summary>
    [JsonPropertyName("pageSize")]
    public int PageSize { get; set; }

    /// <summary>The state its header records: JustCreated, Clean, Dirty (open) or RestoredAwaitingRecovery.</summary>
    [JsonPropertyName("state")]
    public string State { get; set; } = "";

    /// <summary>The last backup of each type its header records, by type (full, incremental, differential,
    /// copy).</summary>
    [JsonPropertyName("lastBackups")]
    public Dictionary<string, BackupStatus> LastBackups { get; set; } = [];
}

/// <summary>One backup as a database header records it.</summary>
public sealed class BackupStatus
{
    /// <summary>When the backup was marked (UTC).</summary>
    [JsonPropertyName("time")]
    public DateTime Time { get; set; }

    /// <summary>The first log generation the backup holds.</summary>
    [JsonPropertyName("genLow")]
    public uint GenLow { get; set; }

    /// <summary>The last log generation the backup holds.</summary>
    [JsonPropertyName("genHigh")]
    public uint GenHigh { get; set; }
}
