using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>A backup policy the server runs by itself: what to back up into which repository, how often each kind of
/// backup, shipping, retention and proofs (in the server's config under "policies", or through PUT /v1/policies/NAME).</summary>
public sealed class PolicyDefinition
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    [JsonPropertyName("repository")] public PolicyRepository Repository { get; set; } = new();

    /// <summary>How often a full backup is taken (a duration: 7d, 12h...). Required: every chain starts with one.</summary>
    [JsonPropertyName("full")] public string? Full { get; set; }
    [JsonPropertyName("incremental")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Incremental { get; set; }
    [JsonPropertyName("differential")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Differential { get; set; }

    /// <summary>Incrementals and differentials hold the changed pages instead of every log record since their parent.</summary>
    [JsonPropertyName("changedPages")] public bool ChangedPages { get; set; }

    /// <summary>Each backup records its tables' digests (what proofs compare): on unless turned off.</summary>
    [JsonPropertyName("digest")] public bool Digest { get; set; } = true;

    /// <summary>Ship the instance's log continuously into the repository (a shipper the server keeps running).</summary>
    [JsonPropertyName("shipping")] public bool Shipping { get; set; }
    [JsonPropertyName("shippingMaxLag")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ShippingMaxLag { get; set; }

    [JsonPropertyName("retention")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public PolicyRetention? Retention { get; set; }
    [JsonPropertyName("prove")] public PolicyProof Prove { get; set; } = new();

    /// <summary>The first wait before a failed job is tried again; it doubles with each failure, up to the job's interval
    /// (and at most an hour).</summary>
    [JsonPropertyName("retryAfter")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? RetryAfter { get; set; }
}

public sealed class PolicyRepository
{
    /// <summary>A directory, or s3://BUCKET/PREFIX.</summary>
    [JsonPropertyName("location")] public string Location { get; set; } = "";
    [JsonPropertyName("s3Endpoint")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? S3Endpoint { get; set; }
    [JsonPropertyName("s3Region")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? S3Region { get; set; }
    /// <summary>The key file of an encrypted repository (a passphrase comes from the server's BLUEBACK_REPO_PASSWORD).</summary>
    [JsonPropertyName("keyFile")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? KeyFile { get; set; }
    /// <summary>Create the repository on the first run if it does not exist.</summary>
    [JsonPropertyName("create")] public bool Create { get; set; } = true;
}

/// <summary>The <c>forget</c> rules run after each committed backup (a chain is never broken).</summary>
public sealed class PolicyRetention
{
    [JsonPropertyName("keepLast")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepLast { get; set; }
    [JsonPropertyName("keepDaily")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepDaily { get; set; }
    [JsonPropertyName("keepWeekly")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepWeekly { get; set; }
    [JsonPropertyName("keepMonthly")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepMonthly { get; set; }
    [JsonPropertyName("keepWithin")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? KeepWithin { get; set; }
}

public sealed class PolicyProof
{
    /// <summary>Prove each set right after it is committed.</summary>
    [JsonPropertyName("afterEach")] public bool AfterEach { get; set; } = true;
    /// <summary>Also prove, this often, the set whose last proof is oldest (old sets stay proven as disks age).</summary>
    [JsonPropertyName("every")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Every { get; set; }
    /// <summary>Where proofs restore (default: DATA/proofs); removed after each proof.</summary>
    [JsonPropertyName("scratch")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Scratch { get; set; }
    [JsonPropertyName("maxScratchMB")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? MaxScratchMB { get; set; }
}

/// <summary>One job a policy ran or runs: a backup, a proof, retention, a repository listing.</summary>
public sealed class PolicyJobInfo
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("policy")] public string Policy { get; set; } = "";
    /// <summary>What the job does.</summary>
    [JsonPropertyName("kind")] public PolicyJobKind Kind { get; set; }
    /// <summary>Why it started.</summary>
    [JsonPropertyName("trigger")] public PolicyJobTrigger Trigger { get; set; }
    /// <summary>Where it is.</summary>
    [JsonPropertyName("state")] public PolicyJobState State { get; set; }
    [JsonPropertyName("started")] public DateTime Started { get; set; }
    [JsonPropertyName("ended")] public DateTime? Ended { get; set; }
    [JsonPropertyName("seconds")] public double? Seconds { get; set; }
    [JsonPropertyName("set")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Set { get; set; }
    [JsonPropertyName("bytes")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Bytes { get; set; }
    [JsonPropertyName("stored")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Stored { get; set; }
    [JsonPropertyName("rateMBps")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? RateMBps { get; set; }
    [JsonPropertyName("proofOk")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? ProofOk { get; set; }
    [JsonPropertyName("digestMatch")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? DigestMatch { get; set; }
    [JsonPropertyName("error")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Error { get; set; }
    /// <summary>A running backup: bytes the server has sent so far, of what it knows the set will hold.</summary>
    [JsonPropertyName("progressBytes")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? ProgressBytes { get; set; }
}

/// <summary>A policy as the server runs it: its definition, what runs now, when each kind is next due, what happened last.</summary>
public sealed class PolicyInfo
{
    [JsonPropertyName("definition")] public PolicyDefinition Definition { get; set; } = new();
    /// <summary>config (from the server's config file) or api (set through PUT /v1/policies/NAME).</summary>
    [JsonPropertyName("source")] public string Source { get; set; } = "";
    [JsonPropertyName("running")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public PolicyJobInfo? Running { get; set; }
    [JsonPropertyName("proving")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public PolicyJobInfo? Proving { get; set; }
    [JsonPropertyName("next")] public Dictionary<string, DateTime> Next { get; set; } = [];
    [JsonPropertyName("last")] public Dictionary<string, PolicyJobInfo> Last { get; set; } = [];
    [JsonPropertyName("consecutiveFailures")] public int ConsecutiveFailures { get; set; }
    [JsonPropertyName("shipper")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Shipper { get; set; }
    /// <summary>The repository's sets as last listed (after each job, and every few minutes).</summary>
    [JsonPropertyName("sets")] public List<PolicySetInfo> Sets { get; set; } = [];
    [JsonPropertyName("setsListed")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? SetsListed { get; set; }
}

public sealed class PolicySetInfo
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("parent")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Parent { get; set; }
    [JsonPropertyName("ended")] public DateTime? Ended { get; set; }
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("stored")] public long Stored { get; set; }
    [JsonPropertyName("verified")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Verified { get; set; }
    [JsonPropertyName("proved")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Proved { get; set; }
    [JsonPropertyName("provedAt")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? ProvedAt { get; set; }
    [JsonPropertyName("digestMatch")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? DigestMatch { get; set; }
}

public sealed class PolicyList
{
    [JsonPropertyName("policies")] public List<PolicyInfo> Policies { get; set; } = [];
}

public sealed class PolicyHistory
{
    [JsonPropertyName("jobs")] public List<PolicyJobInfo> Jobs { get; set; } = [];
}

/// <summary>Something an operator should look at: a failing policy, a failed proof, shipping behind, an instance offline.</summary>
public sealed class AlertInfo
{
    /// <summary>critical or warning.</summary>
    [JsonPropertyName("severity")] public string Severity { get; set; } = "";
    [JsonPropertyName("subject")] public string Subject { get; set; } = "";
    [JsonPropertyName("message")] public string Message { get; set; } = "";
    [JsonPropertyName("since")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? Since { get; set; }
}

public sealed class AlertList
{
    [JsonPropertyName("alerts")] public List<AlertInfo> Alerts { get; set; } = [];
}

/// <summary>The server's recent rates, sampled every few seconds (what the console plots).</summary>
public sealed class MetricsHistory
{
    [JsonPropertyName("intervalSeconds")] public double IntervalSeconds { get; set; }
    [JsonPropertyName("samples")] public List<MetricsSample> Samples { get; set; } = [];
}

public sealed class MetricsSample
{
    [JsonPropertyName("time")] public DateTime Time { get; set; }
    [JsonPropertyName("commitsPerSecond")] public double CommitsPerSecond { get; set; }
    [JsonPropertyName("logMBps")] public double LogMBps { get; set; }
    [JsonPropertyName("backupMBps")] public double BackupMBps { get; set; }
}
