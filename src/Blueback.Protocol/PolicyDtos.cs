using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>A backup policy the server runs by itself: what to back up into which repository, how often each kind of
/// backup, shipping, retention and proofs (in the server's config under "policies", or through PUT /v1/policies/NAME).</summary>
public sealed class PolicyDefinition
{
    /// <summary>The policy's name (unique in the server).</summary>
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    /// <summary>The instance it backs up.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    /// <summary>The repository it backs up into.</summary>
    [JsonPropertyName("repository")] public PolicyRepository Repository { get; set; } = new();
    /// <summary>A second repository (another site) that every set and shipped generation is copied into after each
    /// committed backup (<c>blueback repo copy --all</c>), or null for none.</summary>
    [JsonPropertyName("copyTo")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public PolicyRepository? CopyTo { get; set; }

    /// <summary>How often a full backup is taken (a duration: 7d, 12h...). Required: every chain starts with one.</summary>
    [JsonPropertyName("full")] public string? Full { get; set; }
    /// <summary>How often an incremental backup is taken (a duration), or null for none.</summary>
    [JsonPropertyName("incremental")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Incremental { get; set; }
    /// <summary>How often a differential backup is taken (a duration), or null for none.</summary>
    [JsonPropertyName("differential")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Differential { get; set; }

    /// <summary>Incrementals and differentials hold the changed pages instead of every log record since their parent.</summary>
    [JsonPropertyName("changedPages")] public bool ChangedPages { get; set; }

    /// <summary>Full backups do not read again the pages unchanged since the repository's newest full set
    /// (<c>backup --skip-unchanged</c>), except one every <see cref="ReadAllAfter"/>, which reads and checks every page.</summary>
    [JsonPropertyName("skipUnchanged")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool SkipUnchanged { get; set; }

    /// <summary>With <see cref="SkipUnchanged"/>: how long after the last full that read every page the next one does
    /// (a duration; 7d when null).</summary>
    [JsonPropertyName("readAllAfter")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ReadAllAfter { get; set; }

    /// <summary>What <see cref="ReadAllAfter"/> means when not given.</summary>
    public const string DefaultReadAllAfter = "7d";

    /// <summary>Each backup records its tables' digests (what proofs compare): on unless turned off.</summary>
    [JsonPropertyName("digest")] public bool Digest { get; set; } = true;

    /// <summary>Ship the instance's log continuously into the repository (a shipper the server keeps running).</summary>
    [JsonPropertyName("shipping")] public bool Shipping { get; set; }
    /// <summary>With <see cref="Shipping"/>: how old an acknowledged commit may get before it is in the repository (a
    /// duration; the shipper's default when null).</summary>
    [JsonPropertyName("shippingMaxLag")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ShippingMaxLag { get; set; }

    /// <summary>The retention rules run after each committed backup, or null to keep every set.</summary>
    [JsonPropertyName("retention")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public PolicyRetention? Retention { get; set; }
    /// <summary>When the policy proves its sets (restores them into scratch and checks them).</summary>
    [JsonPropertyName("prove")] public PolicyProof Prove { get; set; } = new();

    /// <summary>The first wait before a failed job is tried again; it doubles with each failure, up to the job's interval
    /// (and at most an hour).</summary>
    [JsonPropertyName("retryAfter")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? RetryAfter { get; set; }
}

/// <summary>Where a policy's repository is and how to open it.</summary>
public sealed class PolicyRepository
{
    /// <summary>A directory, or s3://BUCKET/PREFIX.</summary>
    [JsonPropertyName("location")] public string Location { get; set; } = "";
    /// <summary>For s3:// locations: the endpoint of an S3-compatible service (AWS when null).</summary>
    [JsonPropertyName("s3Endpoint")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? S3Endpoint { get; set; }
    /// <summary>For s3:// locations: the region, or null for the SDK's default.</summary>
    [JsonPropertyName("s3Region")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? S3Region { get; set; }
    /// <summary>For s3:// locations: the bucket in the path (true) or the host name; null: as the program's default.</summary>
    [JsonPropertyName("s3PathStyle")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? S3PathStyle { get; set; }
    /// <summary>For s3:// locations: when-required or when-supported (the AWS SDK's checksums); null: as the program's default.</summary>
    [JsonPropertyName("s3Checksums")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? S3Checksums { get; set; }
    /// <summary>For s3:// locations: the multipart part size (5M to 1G); null: as the program's default.</summary>
    [JsonPropertyName("s3PartSize")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? S3PartSize { get; set; }
    /// <summary>The key file of an encrypted repository (a passphrase comes from the server's BLUEBACK_REPO_PASSWORD).</summary>
    [JsonPropertyName("keyFile")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? KeyFile { get; set; }
    /// <summary>Create the repository on the first run if it does not exist.</summary>
    [JsonPropertyName("create")] public bool Create { get; set; } = true;
}

/// <summary>The <c>forget</c> rules run after each committed backup (a chain is never broken).</summary>
public sealed class PolicyRetention
{
    /// <summary>Keep the newest this many sets.</summary>
    [JsonPropertyName("keepLast")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepLast { get; set; }
    /// <summary>Keep the newest set of each of the last this many days that have one.</summary>
    [JsonPropertyName("keepDaily")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepDaily { get; set; }
    /// <summary>Keep the newest set of each of the last this many weeks that have one.</summary>
    [JsonPropertyName("keepWeekly")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepWeekly { get; set; }
    /// <summary>Keep the newest set of each of the last this many months that have one.</summary>
    [JsonPropertyName("keepMonthly")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? KeepMonthly { get; set; }
    /// <summary>Keep every set newer than this duration (such as 7d).</summary>
    [JsonPropertyName("keepWithin")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? KeepWithin { get; set; }
}

/// <summary>When a policy proves its sets.</summary>
public sealed class PolicyProof
{
    /// <summary>Prove each set right after it is committed.</summary>
    [JsonPropertyName("afterEach")] public bool AfterEach { get; set; } = true;
    /// <summary>Also prove, this often, the set whose last proof is oldest (old sets stay proven as disks age).</summary>
    [JsonPropertyName("every")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Every { get; set; }
    /// <summary>Where proofs restore (default: DATA/proofs); removed after each proof.</summary>
    [JsonPropertyName("scratch")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Scratch { get; set; }
    /// <summary>The most scratch space a proof may take, in MB (the prove command's default when null).</summary>
    [JsonPropertyName("maxScratchMB")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? MaxScratchMB { get; set; }
}

/// <summary>One job a policy ran or runs: a backup, a proof, retention, a repository listing.</summary>
public sealed class PolicyJobInfo
{
    /// <summary>The job's id.</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>The policy that ran it.</summary>
    [JsonPropertyName("policy")] public string Policy { get; set; } = "";
    /// <summary>What the job does: full, incremental, differential, prove, forget, gc, verify, restore.</summary>
    [JsonPropertyName("kind")] public PolicyJobKind Kind { get; set; }
    /// <summary>Why it started: schedule, missed (due while the server was down), retry, run-now, after-backup.</summary>
    [JsonPropertyName("trigger")] public PolicyJobTrigger Trigger { get; set; }
    /// <summary>Where it is: running, succeeded, failed, cancelled, interrupted (the server stopped or died under it),
    /// skipped (a proof of a set retention forgot first).</summary>
    [JsonPropertyName("state")] public PolicyJobState State { get; set; }
    /// <summary>When it started (UTC).</summary>
    [JsonPropertyName("started")] public DateTime Started { get; set; }
    /// <summary>When it ended (UTC), or null while it runs.</summary>
    [JsonPropertyName("ended")] public DateTime? Ended { get; set; }
    /// <summary>How long it ran, in seconds, or null while it runs.</summary>
    [JsonPropertyName("seconds")] public double? Seconds { get; set; }
    /// <summary>The set it made or proved, or null.</summary>
    [JsonPropertyName("set")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Set { get; set; }
    /// <summary>A backup: the bytes of the set (before deduplication and compression).</summary>
    [JsonPropertyName("bytes")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Bytes { get; set; }
    /// <summary>A backup: the bytes it added to the repository.</summary>
    [JsonPropertyName("stored")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Stored { get; set; }
    /// <summary>A backup: the repository's hash-chain head after its commit (SEQ:HASH), recorded here, apart from the
    /// repository, so that <c>blueback verify --expect-head</c> can show a chain cut short or rebuilt.</summary>
    [JsonPropertyName("chainHead")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ChainHead { get; set; }
    /// <summary>A backup: its rate in MB/s.</summary>
    [JsonPropertyName("rateMBps")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? RateMBps { get; set; }
    /// <summary>A proof: true when the set restored and every page checked.</summary>
    [JsonPropertyName("proofOk")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? ProofOk { get; set; }
    /// <summary>A proof: true when every table's digest matched the one the backup recorded; null when it recorded
    /// none.</summary>
    [JsonPropertyName("digestMatch")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? DigestMatch { get; set; }
    /// <summary>Why it failed, or null.</summary>
    [JsonPropertyName("error")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Error { get; set; }
    /// <summary>A restore: the instance it made (the set's instance and short id).</summary>
    [JsonPropertyName("restoredAs")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? RestoredAs { get; set; }
    /// <summary>A running backup: bytes the server has sent so far, of what it knows the set will hold.</summary>
    [JsonPropertyName("progressBytes")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? ProgressBytes { get; set; }
}

/// <summary>A policy as the server runs it: its definition, what runs now, when each kind is next due, what happened last.</summary>
public sealed class PolicyInfo
{
    /// <summary>The policy as defined.</summary>
    [JsonPropertyName("definition")] public PolicyDefinition Definition { get; set; } = new();
    /// <summary>config (from the server's config file) or api (set through PUT /v1/policies/NAME).</summary>
    [JsonPropertyName("source")] public string Source { get; set; } = "";
    /// <summary>The backup or retention job running now, or null.</summary>
    [JsonPropertyName("running")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public PolicyJobInfo? Running { get; set; }
    /// <summary>The proof running now, or null.</summary>
    [JsonPropertyName("proving")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public PolicyJobInfo? Proving { get; set; }
    /// <summary>When each kind of job (full, incremental, differential, prove) is next due (UTC).</summary>
    [JsonPropertyName("next")] public Dictionary<string, DateTime> Next { get; set; } = [];
    /// <summary>The last job of each kind.</summary>
    [JsonPropertyName("last")] public Dictionary<string, PolicyJobInfo> Last { get; set; } = [];
    /// <summary>Jobs failed in a row (0 after a success).</summary>
    [JsonPropertyName("consecutiveFailures")] public int ConsecutiveFailures { get; set; }
    /// <summary>With shipping: the state of the shipper the server runs; null without shipping.</summary>
    [JsonPropertyName("shipper")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Shipper { get; set; }
    /// <summary>The repository's sets as last listed (after each job, and every few minutes).</summary>
    [JsonPropertyName("sets")] public List<PolicySetInfo> Sets { get; set; } = [];
    /// <summary>When the sets were last listed (UTC), or null before the first listing.</summary>
    [JsonPropertyName("setsListed")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? SetsListed { get; set; }
    /// <summary>Why the second repository (<c>copyTo</c>) could not be listed at the last listing, or null.</summary>
    [JsonPropertyName("copyListError")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? CopyListError { get; set; }
    /// <summary>Whether the policy does what it promises: its last backup succeeded and is recent enough.</summary>
    [JsonPropertyName("health")] public PolicyHealth Health { get; set; } = new();
}

/// <summary>A policy's health, what the console's tiles and an instance's "degraded" state show.</summary>
public sealed class PolicyHealth
{
    /// <summary>ok; degraded (its last backup failed, a proof failed, or its last good backup is older than its
    /// schedule allows); waiting (no backup has succeeded yet, and none failed).</summary>
    [JsonPropertyName("state")] public string State { get; set; } = "";
    /// <summary>Why it is degraded, for people; null when ok.</summary>
    [JsonPropertyName("reason")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Reason { get; set; }
    /// <summary>When the last successful backup started (UTC: the time its schedule counts from), or null if none has.</summary>
    [JsonPropertyName("lastGood")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? LastGood { get; set; }
    /// <summary>The kind of that backup (full, incremental, differential), or null.</summary>
    [JsonPropertyName("lastGoodKind")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? LastGoodKind { get; set; }
    /// <summary>The newest a last good backup may be before the policy is degraded (UTC), or null before the first.</summary>
    [JsonPropertyName("staleAfter")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? StaleAfter { get; set; }
}

/// <summary>One set of a policy's repository, as last listed.</summary>
public sealed class PolicySetInfo
{
    /// <summary>The set's id.</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>full, incremental, differential or copy.</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    /// <summary>The set it depends on (its chain's previous set), or null for a full or copy set.</summary>
    [JsonPropertyName("parent")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Parent { get; set; }
    /// <summary>When the backup ended (the server's clock, UTC), or null.</summary>
    [JsonPropertyName("ended")] public DateTime? Ended { get; set; }
    /// <summary>The first log generation the set holds.</summary>
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }
    /// <summary>The last log generation the set holds.</summary>
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }
    /// <summary>The set's bytes before deduplication and compression.</summary>
    [JsonPropertyName("size")] public long Size { get; set; }
    /// <summary>The bytes it added to the repository.</summary>
    [JsonPropertyName("stored")] public long Stored { get; set; }
    /// <summary>The outcome of its last verify, or null if never verified.</summary>
    [JsonPropertyName("verified")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Verified { get; set; }
    /// <summary>When it was last verified (UTC), or null.</summary>
    [JsonPropertyName("verifiedAt")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? VerifiedAt { get; set; }
    /// <summary>The outcome of its last proof, or null if never proven.</summary>
    [JsonPropertyName("proved")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Proved { get; set; }
    /// <summary>When it was last proven (UTC), or null.</summary>
    [JsonPropertyName("provedAt")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? ProvedAt { get; set; }
    /// <summary>Whether its last proof matched every table's digest, or null.</summary>
    [JsonPropertyName("digestMatch")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? DigestMatch { get; set; }
    /// <summary>Whether the policy's second repository (<c>copyTo</c>) lists this set: null when the policy copies
    /// nowhere, or when the second repository could not be listed (<see cref="PolicyInfo.CopyListError"/> says why).</summary>
    [JsonPropertyName("copied")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Copied { get; set; }
}

/// <summary>GET /v1/policies/{name}/sets/{id}: one set's files, as its manifest lists them.</summary>
public sealed class PolicySetFiles
{
    /// <summary>The set's whole id.</summary>
    [JsonPropertyName("set")] public string Set { get; set; } = "";
    /// <summary>Its files: database images (or changed pages) and log generations.</summary>
    [JsonPropertyName("files")] public List<PolicySetFile> Files { get; set; } = [];
}

/// <summary>One file of a set.</summary>
public sealed class PolicySetFile
{
    /// <summary>"databases/NAME.bdb" or "logs/bbXXXXXXXX.log".</summary>
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    /// <summary>Its bytes as restored.</summary>
    [JsonPropertyName("size")] public long Size { get; set; }
    /// <summary>The chunks it is stored in.</summary>
    [JsonPropertyName("chunks")] public int Chunks { get; set; }
    /// <summary>Its chunks' bytes in the repository, compressed (a chunk another set holds too counts here as well).</summary>
    [JsonPropertyName("compressed")] public long Compressed { get; set; }
}

/// <summary>GET /v1/policies.</summary>
public sealed class PolicyList
{
    /// <summary>Every policy the server runs.</summary>
    [JsonPropertyName("policies")] public List<PolicyInfo> Policies { get; set; } = [];
}

/// <summary>GET /v1/policies/{name}/history.</summary>
public sealed class PolicyHistory
{
    /// <summary>The policy's jobs, newest first.</summary>
    [JsonPropertyName("jobs")] public List<PolicyJobInfo> Jobs { get; set; } = [];
}

/// <summary>Something an operator should look at: a failing policy, a failed proof, shipping behind, an instance offline.</summary>
public sealed class AlertInfo
{
    /// <summary>critical or warning.</summary>
    [JsonPropertyName("severity")] public string Severity { get; set; } = "";
    /// <summary>What the alert is about (a policy, an instance).</summary>
    [JsonPropertyName("subject")] public string Subject { get; set; } = "";
    /// <summary>What is wrong and, where there is one, the remedy.</summary>
    [JsonPropertyName("message")] public string Message { get; set; } = "";
    /// <summary>Since when it has been so (UTC), or null when not known.</summary>
    [JsonPropertyName("since")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? Since { get; set; }
    /// <summary>The alert's id (12 hex digits, from its subject): the same while it lasts, what an acknowledgement names.</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>When the server first raised it (UTC).</summary>
    [JsonPropertyName("raised")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? Raised { get; set; }
    /// <summary>Who acknowledged it (the token's name and id), or null.</summary>
    [JsonPropertyName("acknowledgedBy")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? AcknowledgedBy { get; set; }
    /// <summary>When it was acknowledged (UTC), or null.</summary>
    [JsonPropertyName("acknowledgedAt")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? AcknowledgedAt { get; set; }
}

/// <summary>One change of an alert: raised, acknowledged or cleared (the history's lines, and what a webhook is sent).</summary>
public sealed class AlertEvent
{
    /// <summary>When it happened (UTC).</summary>
    [JsonPropertyName("time")] public DateTime Time { get; set; }
    /// <summary>raised, acknowledged or cleared.</summary>
    [JsonPropertyName("event")] public string Event { get; set; } = "";
    /// <summary>The alert as it was then.</summary>
    [JsonPropertyName("alert")] public AlertInfo Alert { get; set; } = new();
    /// <summary>The server that raised it (its host name).</summary>
    [JsonPropertyName("server")] public string Server { get; set; } = "";
}

/// <summary>GET /v1/alerts/history.</summary>
public sealed class AlertHistory
{
    /// <summary>The alerts' changes, newest first.</summary>
    [JsonPropertyName("events")] public List<AlertEvent> Events { get; set; } = [];
}

/// <summary>GET /v1/alerts.</summary>
public sealed class AlertList
{
    /// <summary>The alerts now, most severe first.</summary>
    [JsonPropertyName("alerts")] public List<AlertInfo> Alerts { get; set; } = [];
}

/// <summary>The server's recent rates, sampled every few seconds (what the console plots).</summary>
public sealed class MetricsHistory
{
    /// <summary>Seconds between samples (each the mean of its bucket).</summary>
    [JsonPropertyName("intervalSeconds")] public double IntervalSeconds { get; set; }
    /// <summary>The range the samples span: 1h, 24h or 7d.</summary>
    [JsonPropertyName("range")] public string Range { get; set; } = "";
    /// <summary>The samples, oldest first.</summary>
    [JsonPropertyName("samples")] public List<MetricsSample> Samples { get; set; } = [];
}

/// <summary>One sample of the server's rates.</summary>
public sealed class MetricsSample
{
    /// <summary>When it was taken (UTC).</summary>
    [JsonPropertyName("time")] public DateTime Time { get; set; }
    /// <summary>Transactions committed per second over the interval.</summary>
    [JsonPropertyName("commitsPerSecond")] public double CommitsPerSecond { get; set; }
    /// <summary>Log written, in MB per second.</summary>
    [JsonPropertyName("logMBps")] public double LogMBps { get; set; }
    /// <summary>Backup data sent, in MB per second.</summary>
    [JsonPropertyName("backupMBps")] public double BackupMBps { get; set; }
}
