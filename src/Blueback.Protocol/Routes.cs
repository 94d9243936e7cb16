namespace Blueback.Protocol;

/// <summary>The HTTP routes of the server: the public interface that clients and the server share.</summary>
public static class Routes
{
    /// <summary>Response headers of a write: where its commit ends in the log ("GEN:OFFSET") and the time in its
    /// commit record (ISO 8601, UTC); either is a stop point that restores exactly up to this write.</summary>
    public const string CommitLsnHeader = "Blueback-Commit-Lsn";
    public const string CommitTimeHeader = "Blueback-Commit-Time";
    public const string Health = "/healthz";
    public const string Metrics = "/metrics";
    public const string Status = "/v1/status";

    public static string Key(string instance, string database, string table, ReadOnlySpan<byte> key) =>
        $"{Table(instance, database, table)}/keys/{PercentEncoding.Encode(key)}";

    public static string Keys(string instance, string database, string table) => $"{Table(instance, database, table)}/keys";

    public static string Batch(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/batch";

    public const string Backups = "/v1/backups";

    public const string Tokens = "/v1/tokens";

    public static string Token(string id) => $"{Tokens}/{Uri.EscapeDataString(id)}";

    public static string BeginBackup(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/backups";

    public static string Backup(string id) => $"{Backups}/{Uri.EscapeDataString(id)}";

    public static string BackupImage(string id, string database) => $"{Backup(id)}/databases/{Uri.EscapeDataString(database)}/image";

    public static string BackupImageRange(string id, string database, long offset, long length) => $"{BackupImage(id, database)}?offset={offset}&length={length}";

    public static string BackupChangedPages(string id, string database) => $"{Backup(id)}/databases/{Uri.EscapeDataString(database)}/pages";

    public static string BackupLogs(string id) => $"{Backup(id)}/logs";

    public static string BackupLog(string id, uint generation) => $"{Backup(id)}/logs/{generation}";

    public static string BackupDigest(string id) => $"{Backup(id)}/digest";

    public static string BackupTruncate(string id) => $"{Backup(id)}/truncate";

    public static string BackupEnd(string id) => $"{Backup(id)}/end";

    /// <summary>Request header of a restore upload: the SHA-256 (lowercase hex) of the file's bytes, which the
    /// server checks before the file counts as written.</summary>
    public const string Sha256Header = "Blueback-Sha256";

    /// <summary>With a restore upload of a repository-format-2 file: its chunks' sizes (ChunkSizes.Format);
    /// the SHA-256 header then carries the chunk digest (the SHA-256 of the chunks' SHA-256s) instead of the file's.</summary>
    public const string ChunkSizesHeader = "Blueback-Chunk-Sizes";

    public const string Restores = "/v1/restores";

    public static string BeginRestore(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/restores";

    public static string Restore(string id) => $"/v1/restores/{Uri.EscapeDataString(id)}";

    public static string RestoreImage(string id, string database) => $"{Restore(id)}/databases/{Uri.EscapeDataString(database)}/image";

    public static string RestoreChangedPages(string id, string database) => $"{Restore(id)}/databases/{Uri.EscapeDataString(database)}/pages";

    public static string RestoreLog(string id, uint generation) => $"{Restore(id)}/logs/{generation}";

    public static string RestoreRecover(string id) => $"{Restore(id)}/recover";

    public static string Shipping(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/shipping";

    public static string ShippingReady(string instance) => $"{Shipping(instance)}/ready";

    public static string ShippingLog(string instance, uint generation) => $"{Shipping(instance)}/logs/{generation}";

    public static string ShippingAck(string instance) => $"{Shipping(instance)}/ack";

    public static string ShippingDisable(string instance) => $"{Shipping(instance)}/disable";

    public const string Policies = "/v1/policies";

    public static string Policy(string name) => $"{Policies}/{Uri.EscapeDataString(name)}";

    public static string PolicyRun(string name, string kind) => $"{Policy(name)}/run?kind={Uri.EscapeDataString(kind)}";

    public static string PolicyJob(string name, string id) => $"{Policy(name)}/jobs/{Uri.EscapeDataString(id)}";

    public static string PolicyHistory(string name, int limit) => $"{Policy(name)}/history?limit={limit}";

    public const string Alerts = "/v1/alerts";

    public const string MetricsHistory = "/v1/metrics/history";

    public static string Promote(string instance) => $"/v1/instances/{Uri.EscapeDataString(instance)}/promote";

    private static string Table(string instance, string database, string table) =>
        $"/v1/instances/{Uri.EscapeDataString(instance)}/databases/{Uri.EscapeDataString(database)}/tables/{Uri.EscapeDataString(table)}";

    /// <summary>Server-side route templates.</summary>
    public static class Templates
    {
        public const string Table = "/v1/instances/{instance}/databases/{database}/tables/{table}";
        public const string Key = Table + "/keys/{*key}";
        public const string Keys = Table + "/keys";
        public const string Batch = "/v1/instances/{instance}/batch";
        public const string BeginBackup = "/v1/instances/{instance}/backups";
        public const string Backup = "/v1/backups/{id}";
        public const string BackupImage = "/v1/backups/{id}/databases/{database}/image";
        public const string BackupChangedPages = "/v1/backups/{id}/databases/{database}/pages";
        public const string BackupLogs = "/v1/backups/{id}/logs";
        public const string BackupLog = "/v1/backups/{id}/logs/{generation}";
        public const string BackupTruncate = "/v1/backups/{id}/truncate";
        public const string BackupDigest = "/v1/backups/{id}/digest";
        public const string BackupEnd = "/v1/backups/{id}/end";
        public const string Token = "/v1/tokens/{id}";
        public const string BeginRestore = "/v1/instances/{instance}/restores";
        public const string Restore = "/v1/restores/{id}";
        public const string RestoreImage = "/v1/restores/{id}/databases/{database}/image";
        public const string RestoreChangedPages = "/v1/restores/{id}/databases/{database}/pages";
        public const string RestoreLog = "/v1/restores/{id}/logs/{generation}";
        public const string RestoreRecover = "/v1/restores/{id}/recover";
        public const string Shipping = "/v1/instances/{instance}/shipping";
        public const string ShippingReady = Shipping + "/ready";
        public const string ShippingLog = Shipping + "/logs/{generation}";
        public const string ShippingAck = Shipping + "/ack";
        public const string ShippingDisable = Shipping + "/disable";
        public const string Promote = "/v1/instances/{instance}/promote";
        public const string Policy = "/v1/policies/{name}";
        public const string PolicyRun = "/v1/policies/{name}/run";
        public const string PolicyJob = "/v1/policies/{name}/jobs/{id}";
        public const string PolicyHistory = "/v1/policies/{name}/history";
    }

    public static class Limits
    {
        public const int MaxKeyBytes = 1024;
        public const int MaxValueBytes = 16 * 1024 * 1024;
        public const int DefaultScanLimit = 100;
        public const int MaxScanLimit = 1000;
        public const int MaxBatchOps = 10_000;
        /// <summary>A batch body: its values, base64-expanded, plus JSON around them.</summary>
        public const long MaxBatchBodyBytes = 64L * 1024 * 1024;
    }
}
