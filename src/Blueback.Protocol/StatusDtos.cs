using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>GET /v1/status.</summary>
public sealed class StatusResponse
{
    [JsonPropertyName("server")]
    public string Server { get; set; } = "";

    [JsonPropertyName("version")]
    public string Version { get; set; } = "";

    [JsonPropertyName("started")]
    public DateTime Started { get; set; }

    [JsonPropertyName("instances")]
    public List<InstanceStatus> Instances { get; set; } = [];
}

public sealed class InstanceStatus
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("state")]
    public string State { get; set; } = "";

    /// <summary>Why an instance is not online (being restored, or left offline by a restore that did not finish).</summary>
    [JsonPropertyName("detail")]
    public string? Detail { get; set; }

    [JsonPropertyName("circularLogging")]
    public bool CircularLogging { get; set; }

    [JsonPropertyName("logSignature")]
    public string LogSignature { get; set; } = "";

    [JsonPropertyName("checkpoint")]
    public string Checkpoint { get; set; } = "";

    [JsonPropertyName("logPosition")]
    public string LogPosition { get; set; } = "";

    [JsonPropertyName("oldestGeneration")]
    public uint OldestGeneration { get; set; }

    [JsonPropertyName("currentGeneration")]
    public uint CurrentGeneration { get; set; }

    [JsonPropertyName("lastOpen")]
    public OpenStatus? LastOpen { get; set; }

    [JsonPropertyName("backupInProgress")]
    public bool BackupInProgress { get; set; }

    /// <summary>Log shipping of the instance, or null when nothing ships it.</summary>
    [JsonPropertyName("shipping")]
    public ShippingStatus? Shipping { get; set; }

    /// <summary>The warm standby this instance is (or was, until promoted), or null.</summary>
    [JsonPropertyName("standby")]
    public StandbyStatus? Standby { get; set; }

    [JsonPropertyName("databases")]
    public List<DatabaseStatus> Databases { get; set; } = [];
}

public sealed class OpenStatus
{
    [JsonPropertyName("clean")]
    public bool Clean { get; set; }

    [JsonPropertyName("transactionsReplayed")]
    public long TransactionsReplayed { get; set; }

    [JsonPropertyName("recoveredFrom")]
    public string RecoveredFrom { get; set; } = "";

    [JsonPropertyName("recoveredTo")]
    public string RecoveredTo { get; set; } = "";
}

public sealed class DatabaseStatus
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("sizeBytes")]
    public long SizeBytes { get; set; }

    [JsonPropertyName("pageSize")]
    public int PageSize { get; set; }

    [JsonPropertyName("state")]
    public string State { get; set; } = "";

    [JsonPropertyName("lastBackups")]
    public Dictionary<string, BackupStatus> LastBackups { get; set; } = [];
}

public sealed class BackupStatus
{
    [JsonPropertyName("time")]
    public DateTime Time { get; set; }

    [JsonPropertyName("genLow")]
    public uint GenLow { get; set; }

    [JsonPropertyName("genHigh")]
    public uint GenHigh { get; set; }
}
