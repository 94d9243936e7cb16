namespace Blueback.Protocol;

/// <summary>The HTTP routes of the server: the public interface that clients and the server share.</summary>
public static class Routes
{
    /// <summary>Response headers of a write: where its commit ends in the log ("GEN:OFFSET") and the time in its
    /// commit record (ISO 8601, UTC); either is a stop point that restores exactly up to this write.</summary>
    public const string CommitLsnHeader = "Blueback-Commit-Lsn";
    /// <summary>Response header of a write: the time in its commit record (ISO 8601, UTC); see
    /// <see cref="CommitLsnHeader"/>.</summary>
    public const string CommitTimeHeader = "Blueback-Commit-Time";
    /// <summary>GET: 200 while the server runs; the only route that needs no token.</summary>
    public const string Health = "/healthz";
    /// <summary>GET: the server's metrics in the Prometheus text format.</summary>
    public const string Metrics = "/metrics";
    /// <summary>GET: the server, its instances and databases (<see cref="StatusResponse"/>).</summary>
    public const string Status = "/v1/status";

    /// <summary>PUT, GET or DELETE one key: the path of <paramref name="key"/> (percent-encoded) in a table.</summary>
    public static string Key(string instance, string database, string table, ReadOnlySpan<byte> key) =>
        $"{Table(instance, database, table)}/keys/{PercentEncoding.Encode(key)}";

    /// <summary>GET: a range scan of a table (query from, to, limit, reverse; answered with
    /// <see cref="ScanResponse"/>).</summary>
    public static string Keys(string instance, string database, string table) => $"{Table(instance, database, table)}/keys";

    /// <summary>POST: an atomic batch of puts and deletes (<see cref="BatchRequest"/>) in an instance.</summary>
    public static string Batch(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/batch";

    /// <summary>GET: the backup sessions (<see cref="BackupSessionList"/>).</summary>
    public const string Backups = "/v1/backups";

    /// <summary>GET: the tokens (<see cref="TokenInfo"/>, without secrets); POST: create one
    /// (<see cref="CreateTokenRequest"/>). Admin only.</summary>
    public const string Tokens = "/v1/tokens";

    /// <summary>DELETE: revoke the token <paramref name="id"/>.</summary>
    public static string Token(string id) => $"{Tokens}/{Uri.EscapeDataString(id)}";

    /// <summary>POST: begin a backup of <paramref name="instance"/> (<see cref="BeginBackupRequest"/>, answered with
    /// <see cref="BackupSessionInfo"/>).</summary>
    public static string BeginBackup(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/backups";

    /// <summary>GET: the backup session <paramref name="id"/> (<see cref="BackupSessionInfo"/>); DELETE: abort
    /// it.</summary>
    public static string Backup(string id) => $"{Backups}/{Uri.EscapeDataString(id)}";

    /// <summary>GET: the whole image of <paramref name="database"/> in a full or copy backup.</summary>
    public static string BackupImage(string id, string database) => $"{Backup(id)}/databases/{Uri.EscapeDataString(database)}/image";

    /// <summary>GET: <paramref name="length"/> bytes of a database image from byte <paramref name="offset"/> (several
    /// streams read one image in parts).</summary>
    public static string BackupImageRange(string id, string database, long offset, long length) => $"{BackupImage(id, database)}?offset={offset}&length={length}";

    /// <summary>GET: the changed pages of <paramref name="database"/> in a changed-pages backup.</summary>
    public static string BackupChangedPages(string id, string database) => $"{Backup(id)}/databases/{Uri.EscapeDataString(database)}/pages";

    /// <summary>GET: bytes <paramref name="offset"/>+<paramref name="length"/> of a database image as chunk frames
    /// (<see cref="Wire.ChunkFrame"/>): cut by <see cref="Wire.ChunkLayout"/>, hashed and compressed with
    /// <paramref name="codec"/> (zstd-N or none) on the server; a chunk whose hash the program sent as known comes
    /// without its payload. The range starts on a chunk's first byte.</summary>
    /// <remarks>With <c>unchanged</c> (a full begun with a page base), chunks of pages unchanged since the base may come
    /// as <see cref="Wire.ChunkFrameKind.Unchanged"/> frames, unread.</remarks>
    public static string BackupImageChunks(string id, string database, long offset, long length, int chunkSize, IEnumerable<long> cuts, string codec, bool unchanged = false) =>
        $"{Backup(id)}/databases/{Uri.EscapeDataString(database)}/chunks?offset={offset}&length={length}&chunk={chunkSize}&cuts={Wire.ChunkLayout.FormatCuts(cuts)}&codec={Uri.EscapeDataString(codec)}{(unchanged ? "&unchanged=1" : "")}";

    /// <summary>GET: the changed pages of <paramref name="database"/> as chunk frames (see
    /// <see cref="BackupImageChunks"/>).</summary>
    public static string BackupChangedPagesChunks(string id, string database, int chunkSize, IEnumerable<long> cuts, string codec) =>
        $"{BackupChangedPages(id, database)}/chunks?chunk={chunkSize}&cuts={Wire.ChunkLayout.FormatCuts(cuts)}&codec={Uri.EscapeDataString(codec)}";

    /// <summary>GET: one log generation as chunk frames (see <see cref="BackupImageChunks"/>).</summary>
    public static string BackupLogChunks(string id, uint generation, int chunkSize, string codec) =>
        $"{BackupLog(id, generation)}/chunks?chunk={chunkSize}&codec={Uri.EscapeDataString(codec)}";

    /// <summary>POST: the content hashes (SHA-256, 32 bytes each, concatenated) of chunks the program's repository
    /// holds: chunk frames of this session then carry those without their payload.</summary>
    public static string BackupKnownChunks(string id) => $"{Backup(id)}/known-chunks";

    /// <summary>POST: fix the backup's log range and list its generations (<see cref="BackupLogsInfo"/>).</summary>
    public static string BackupLogs(string id) => $"{Backup(id)}/logs";

    /// <summary>GET: one log generation of the backup.</summary>
    public static string BackupLog(string id, uint generation) => $"{Backup(id)}/logs/{generation}";

    /// <summary>GET: the tables' digests at the end of the log range (<see cref="BackupDigestInfo"/>).</summary>
    public static string BackupDigest(string id) => $"{Backup(id)}/digest";

    /// <summary>POST: delete the logs the committed backup made unnecessary (<see cref="TruncateResponse"/>).</summary>
    public static string BackupTruncate(string id) => $"{Backup(id)}/truncate";

    /// <summary>POST: end the session, recording the backup in each database header.</summary>
    public static string BackupEnd(string id) => $"{Backup(id)}/end";

    /// <summary>Request header of a restore upload: the SHA-256 (lowercase hex) of the file's bytes, which the
    /// server checks before the file counts as written.</summary>
    public const string Sha256Header = "Blueback-Sha256";

    /// <summary>With a restore upload of a repository-format-2 file: its chunks' sizes (ChunkSizes.Format);
    /// the SHA-256 header then carries the chunk digest (the SHA-256 of the chunks' SHA-256s) instead of the file's.</summary>
    public const string ChunkSizesHeader = "Blueback-Chunk-Sizes";

    /// <summary>With a restore upload: how its body is encoded. Absent: the file's bytes (Content-Length required).
    /// <see cref="ChunkFramesEncoding"/>: its chunks as chunk frames, in order (the chunk-sizes header required; the
    /// length may be unknown: the server reads exactly the chunks announced).</summary>
    public const string UploadEncodingHeader = "Blueback-Upload-Encoding";

    /// <summary>The upload encoding of chunk frames (<see cref="Wire.ChunkFrame"/>): each chunk's payload as the
    /// repository stores it (zstd or raw), with its content's SHA-256, which the server checks.</summary>
    public const string ChunkFramesEncoding = "chunk-frames";

    /// <summary>GET: the restore sessions (<see cref="RestoreSessionList"/>).</summary>
    public const string Restores = "/v1/restores";

    /// <summary>POST: begin an online restore into <paramref name="instance"/> (<see cref="BeginRestoreRequest"/>,
    /// answered with <see cref="RestoreSessionInfo"/>).</summary>
    public static string BeginRestore(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/restores";

    /// <summary>GET: the restore session <paramref name="id"/> (<see cref="RestoreSessionInfo"/>); DELETE: abort
    /// it.</summary>
    public static string Restore(string id) => $"/v1/restores/{Uri.EscapeDataString(id)}";

    /// <summary>PUT: the image of <paramref name="database"/> (with <see cref="Sha256Header"/>).</summary>
    public static string RestoreImage(string id, string database) => $"{Restore(id)}/databases/{Uri.EscapeDataString(database)}/image";

    /// <summary>PUT: the changed pages of <paramref name="database"/> from a changed-pages set.</summary>
    public static string RestoreChangedPages(string id, string database) => $"{Restore(id)}/databases/{Uri.EscapeDataString(database)}/pages";

    /// <summary>PUT: one log generation (with <see cref="Sha256Header"/>).</summary>
    public static string RestoreLog(string id, uint generation) => $"{Restore(id)}/logs/{generation}";

    /// <summary>POST: every file is sent; run hard recovery.</summary>
    public static string RestoreRecover(string id) => $"{Restore(id)}/recover";

    /// <summary>POST: claim log shipping of <paramref name="instance"/> (<see cref="ShippingClaimRequest"/>, answered
    /// with <see cref="ShippingClaimResponse"/>); DELETE (with the shipper's id): release the claim.</summary>
    public static string Shipping(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/shipping";

    /// <summary>GET: wait for closed generations to ship (<see cref="ShippingReady"/>).</summary>
    public static string ShippingReady(string instance) => $"{Shipping(instance)}/ready";

    /// <summary>GET: one closed log generation to ship.</summary>
    public static string ShippingLog(string instance, uint generation) => $"{Shipping(instance)}/logs/{generation}";

    /// <summary>GET: one closed generation as chunk frames (<see cref="Wire.ChunkFrame"/>), compressed on the server
    /// with <paramref name="codec"/>.</summary>
    public static string ShippingLogChunks(string instance, uint generation, string shipper, int chunkSize, string codec) =>
        $"{ShippingLog(instance, generation)}/chunks?shipper={Uri.EscapeDataString(shipper)}&chunk={chunkSize}&codec={Uri.EscapeDataString(codec)}";

    /// <summary>POST: the repository holds generations up to a point (<see cref="ShippingAckRequest"/>, answered with
    /// <see cref="ShippingAckResponse"/>).</summary>
    public static string ShippingAck(string instance) => $"{Shipping(instance)}/ack";

    /// <summary>POST: stop shipping the instance and let the server delete generations as it did before.</summary>
    public static string ShippingDisable(string instance) => $"{Shipping(instance)}/disable";

    /// <summary>GET: the backup policies (<see cref="PolicyList"/>).</summary>
    public const string Policies = "/v1/policies";

    /// <summary>GET, PUT or DELETE the policy <paramref name="name"/> (<see cref="PolicyInfo"/>,
    /// <see cref="PolicyDefinition"/>).</summary>
    public static string Policy(string name) => $"{Policies}/{Uri.EscapeDataString(name)}";

    /// <summary>POST: run a job of the policy now; <paramref name="kind"/> is full, incremental, differential, prove,
    /// verify or restore.</summary>
    public static string PolicyRun(string name, string kind) => $"{Policy(name)}/run?kind={Uri.EscapeDataString(kind)}";

    /// <summary>GET: one set of the policy's repository, its files (<see cref="PolicySetFiles"/>).</summary>
    public static string PolicySet(string name, string id) => $"{Policy(name)}/sets/{Uri.EscapeDataString(id)}";

    /// <summary>GET: a set opened read-only, its databases and tables (<see cref="SetBrowse"/>).</summary>
    public static string PolicySetBrowse(string name, string id) => $"{PolicySet(name, id)}/browse";

    /// <summary>GET: one page of a table of a set opened read-only (<see cref="BrowseRows"/>); from (inclusive, "base64:..."
    /// for keys that are not UTF-8) and limit in the query.</summary>
    public static string PolicySetBrowseTable(string name, string id, string database, string table) =>
        $"{PolicySetBrowse(name, id)}/{Uri.EscapeDataString(database)}/{Uri.EscapeDataString(table)}";

    /// <summary>GET: one job of the policy (<see cref="PolicyJobInfo"/>); DELETE: cancel it.</summary>
    public static string PolicyJob(string name, string id) => $"{Policy(name)}/jobs/{Uri.EscapeDataString(id)}";

    /// <summary>GET: the policy's last <paramref name="limit"/> jobs, newest first
    /// (<see cref="PolicyHistory"/>).</summary>
    public static string PolicyHistory(string name, int limit) => $"{Policy(name)}/history?limit={limit}";

    /// <summary>GET: what an operator should look at (<see cref="AlertList"/>).</summary>
    public const string Alerts = "/v1/alerts";

    /// <summary>GET: the alerts' changes, newest first (<see cref="AlertHistory"/>).</summary>
    public const string AlertHistory = "/v1/alerts/history";

    /// <summary>POST: acknowledge the alert <paramref name="id"/> (admin; who and when are recorded).</summary>
    public static string AlertAck(string id) => $"/v1/alerts/{Uri.EscapeDataString(id)}/ack";

    /// <summary>GET: the recent rates the console plots (<see cref="MetricsHistory"/>).</summary>
    public const string MetricsHistory = "/v1/metrics/history";

    /// <summary>GET (backup role): a warm standby's image of one page, for a primary repairing it (docs/engine.md):
    /// the page's bytes, with <see cref="PageRepairHeaders"/>.</summary>
    public static string StandbyPage(string instance, string database, uint page) =>
        $"/v1/instances/{Uri.EscapeDataString(instance)}/databases/{Uri.EscapeDataString(database)}/pages/{page}";

    /// <summary>POST: promote the warm standby <paramref name="instance"/> (<see cref="PromoteResponse"/>), applying down
    /// to <paramref name="stop"/> (a time or GEN:OFFSET) when given.</summary>
    public static string Promote(string instance, string? stop = null) =>
        $"/v1/instances/{Uri.EscapeDataString(instance)}/promote{(stop is null ? "" : $"?stop={Uri.EscapeDataString(stop)}")}";

    /// <summary>POST: begin a staged load into <paramref name="instance"/> (<see cref="BeginLoadRequest"/>, answered with
    /// <see cref="LoadInfo"/>): rows are staged on the server and committed in one transaction (a granular restore).</summary>
    public static string BeginLoad(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/loads";

    /// <summary>GET: the load <paramref name="id"/> (<see cref="LoadInfo"/>); DELETE: abort it, dropping what it staged.</summary>
    public static string Load(string id) => $"/v1/loads/{Uri.EscapeDataString(id)}";

    /// <summary>POST: more rows for the load (<see cref="Wire.RowFrames"/>, application/octet-stream).</summary>
    public static string LoadRows(string id) => $"{Load(id)}/rows";

    /// <summary>POST: apply every staged row in one transaction (<see cref="LoadCommitResponse"/>).</summary>
    public static string LoadCommit(string id) => $"{Load(id)}/commit";

    private static string Table(string instance, string database, string table) =>
        $"/v1/instances/{Uri.EscapeDataString(instance)}/databases/{Uri.EscapeDataString(database)}/tables/{Uri.EscapeDataString(table)}";

    /// <summary>Server-side route templates.</summary>
    public static class Templates
    {
        /// <summary>A table: the prefix of the key routes.</summary>
        public const string Table = "/v1/instances/{instance}/databases/{database}/tables/{table}";
        /// <summary>The template of <see cref="Routes.Key"/> (the key is a catch-all: it may hold an encoded
        /// '/').</summary>
        public const string Key = Table + "/keys/{*key}";
        /// <summary>The template of <see cref="Routes.Keys"/>.</summary>
        public const string Keys = Table + "/keys";
        /// <summary>The template of <see cref="Routes.Batch"/>.</summary>
        public const string Batch = "/v1/instances/{instance}/batch";
        /// <summary>The template of <see cref="Routes.BeginBackup"/>.</summary>
        public const string BeginBackup = "/v1/instances/{instance}/backups";
        /// <summary>The template of <see cref="Routes.Backup"/>.</summary>
        public const string Backup = "/v1/backups/{id}";
        /// <summary>The template of <see cref="Routes.BackupImage"/>.</summary>
        public const string BackupImage = "/v1/backups/{id}/databases/{database}/image";
        /// <summary>The template of <see cref="Routes.BackupChangedPages"/>.</summary>
        public const string BackupChangedPages = "/v1/backups/{id}/databases/{database}/pages";
        /// <summary>The template of <see cref="Routes.BackupImageChunks"/>.</summary>
        public const string BackupImageChunks = "/v1/backups/{id}/databases/{database}/chunks";
        /// <summary>The template of <see cref="Routes.BackupChangedPagesChunks"/>.</summary>
        public const string BackupChangedPagesChunks = "/v1/backups/{id}/databases/{database}/pages/chunks";
        /// <summary>The template of <see cref="Routes.BackupLogChunks"/>.</summary>
        public const string BackupLogChunks = "/v1/backups/{id}/logs/{generation}/chunks";
        /// <summary>The template of <see cref="Routes.BackupKnownChunks"/>.</summary>
        public const string BackupKnownChunks = "/v1/backups/{id}/known-chunks";
        /// <summary>The template of <see cref="Routes.BackupLogs"/>.</summary>
        public const string BackupLogs = "/v1/backups/{id}/logs";
        /// <summary>The template of <see cref="Routes.BackupLog"/>.</summary>
        public const string BackupLog = "/v1/backups/{id}/logs/{generation}";
        /// <summary>The template of <see cref="Routes.BackupTruncate"/>.</summary>
        public const string BackupTruncate = "/v1/backups/{id}/truncate";
        /// <summary>The template of <see cref="Routes.BackupDigest"/>.</summary>
        public const string BackupDigest = "/v1/backups/{id}/digest";
        /// <summary>The template of <see cref="Routes.BackupEnd"/>.</summary>
        public const string BackupEnd = "/v1/backups/{id}/end";
        /// <summary>The template of <see cref="Routes.Token"/>.</summary>
        public const string Token = "/v1/tokens/{id}";
        /// <summary>The template of <see cref="Routes.BeginRestore"/>.</summary>
        public const string BeginRestore = "/v1/instances/{instance}/restores";
        /// <summary>The template of <see cref="Routes.Restore"/>.</summary>
        public const string Restore = "/v1/restores/{id}";
        /// <summary>The template of <see cref="Routes.RestoreImage"/>.</summary>
        public const string RestoreImage = "/v1/restores/{id}/databases/{database}/image";
        /// <summary>The template of <see cref="Routes.RestoreChangedPages"/>.</summary>
        public const string RestoreChangedPages = "/v1/restores/{id}/databases/{database}/pages";
        /// <summary>The template of <see cref="Routes.RestoreLog"/>.</summary>
        public const string RestoreLog = "/v1/restores/{id}/logs/{generation}";
        /// <summary>The template of <see cref="Routes.RestoreRecover"/>.</summary>
        public const string RestoreRecover = "/v1/restores/{id}/recover";
        /// <summary>The template of <see cref="Routes.Shipping"/>.</summary>
        public const string Shipping = "/v1/instances/{instance}/shipping";
        /// <summary>The template of <see cref="Routes.ShippingReady"/>.</summary>
        public const string ShippingReady = Shipping + "/ready";
        /// <summary>The template of <see cref="Routes.ShippingLog"/>.</summary>
        public const string ShippingLog = Shipping + "/logs/{generation}";
        /// <summary>The template of <see cref="Routes.ShippingLogChunks"/>.</summary>
        public const string ShippingLogChunks = Shipping + "/logs/{generation}/chunks";
        /// <summary>The template of <see cref="Routes.ShippingAck"/>.</summary>
        public const string ShippingAck = Shipping + "/ack";
        /// <summary>The template of <see cref="Routes.ShippingDisable"/>.</summary>
        public const string ShippingDisable = Shipping + "/disable";
        /// <summary>The template of <see cref="Routes.StandbyPage"/>.</summary>
        public const string StandbyPage = "/v1/instances/{instance}/databases/{database}/pages/{page}";
        /// <summary>The template of <see cref="Routes.Promote"/>.</summary>
        public const string Promote = "/v1/instances/{instance}/promote";
        /// <summary>The template of <see cref="Routes.BeginLoad"/>.</summary>
        public const string BeginLoad = "/v1/instances/{instance}/loads";
        /// <summary>The template of <see cref="Routes.Load"/>.</summary>
        public const string Load = "/v1/loads/{id}";
        /// <summary>The template of <see cref="Routes.LoadRows"/>.</summary>
        public const string LoadRows = "/v1/loads/{id}/rows";
        /// <summary>The template of <see cref="Routes.LoadCommit"/>.</summary>
        public const string LoadCommit = "/v1/loads/{id}/commit";
        /// <summary>The template of <see cref="Routes.Policy"/>.</summary>
        public const string Policy = "/v1/policies/{name}";
        /// <summary>The template of <see cref="Routes.PolicyRun"/>.</summary>
        public const string PolicyRun = "/v1/policies/{name}/run";
        /// <summary>The template of <see cref="Routes.AlertAck"/>.</summary>
        public const string AlertAck = "/v1/alerts/{id}/ack";

        /// <summary>The template of <see cref="Routes.PolicySet"/>.</summary>
        public const string PolicySet = "/v1/policies/{name}/sets/{id}";
        /// <summary>The template of <see cref="Routes.PolicySetBrowse"/>.</summary>
        public const string PolicySetBrowse = "/v1/policies/{name}/sets/{id}/browse";
        /// <summary>The template of <see cref="Routes.PolicySetBrowseTable"/>.</summary>
        public const string PolicySetBrowseTable = "/v1/policies/{name}/sets/{id}/browse/{database}/{table}";

        /// <summary>The template of <see cref="Routes.PolicyJob"/>.</summary>
        public const string PolicyJob = "/v1/policies/{name}/jobs/{id}";
        /// <summary>The template of <see cref="Routes.PolicyHistory"/>.</summary>
        public const string PolicyHistory = "/v1/policies/{name}/history";
    }

    /// <summary>The server's limits on the data API; a request beyond one is refused with 400 or 413.</summary>
    public static class Limits
    {
        /// <summary>The longest key, in bytes.</summary>
        public const int MaxKeyBytes = 1024;
        /// <summary>The largest value, in bytes (16 MiB).</summary>
        public const int MaxValueBytes = 16 * 1024 * 1024;
        /// <summary>The keys a scan page holds when no limit is given.</summary>
        public const int DefaultScanLimit = 100;
        /// <summary>The most keys a scan page holds.</summary>
        public const int MaxScanLimit = 1000;
        /// <summary>The most bytes of keys and values a scan page holds (4 MiB, before base64): a page ends at the limit
        /// or at this, whichever comes first, with <c>next</c> as usual (a page always holds at least one key, so a
        /// 16 MiB value comes alone). A thousand large values made one 193 MB page.</summary>
        public const int MaxScanPageBytes = 4 * 1024 * 1024;
        /// <summary>The most operations in one batch.</summary>
        public const int MaxBatchOps = 10_000;
        /// <summary>A batch body: its values, base64-expanded, plus JSON around them.</summary>
        public const long MaxBatchBodyBytes = 64L * 1024 * 1024;
    }
}
