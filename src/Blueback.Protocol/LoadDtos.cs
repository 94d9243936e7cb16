using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/instances/{instance}/loads: what a staged load writes. Rows then arrive in any number of posts
/// and are staged on the server's disk; the commit applies them all in one transaction, so a table (or a key range,
/// or every table of a database) becomes exactly what was sent, or stays as it was.</summary>
public sealed class BeginLoadRequest
{
    /// <summary>"replace": the scope's live keys are deleted and the rows put, in one commit; "into": the rows go into
    /// <see cref="Into"/>, a table that must not exist yet.</summary>
    [JsonPropertyName("mode")] public string Mode { get; set; } = "";
    /// <summary>The database the rows belong to.</summary>
    [JsonPropertyName("database")] public string Database { get; set; } = "";
    /// <summary>The table; null with "replace": every table of the database is in scope (rows name their tables).</summary>
    [JsonPropertyName("table")] public string? Table { get; set; }
    /// <summary>With "into": the new table the rows of <see cref="Table"/> are written to.</summary>
    [JsonPropertyName("into")] public string? Into { get; set; }
    /// <summary>The key range's first key (inclusive; null: the table's start). Rows outside the range are refused.</summary>
    [JsonPropertyName("from")] public byte[]? From { get; set; }
    /// <summary>The key range's end (exclusive; null: the table's end).</summary>
    [JsonPropertyName("to")] public byte[]? To { get; set; }
}

/// <summary>A staged load: what it writes, what it holds so far and its state.</summary>
public sealed class LoadInfo
{
    /// <summary>The load's id (32 lowercase hex digits).</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>The instance the load writes into.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    /// <summary>The database the load writes into.</summary>
    [JsonPropertyName("database")] public string Database { get; set; } = "";
    /// <summary>The table, or null for every table of the database.</summary>
    [JsonPropertyName("table")] public string? Table { get; set; }
    /// <summary>"replace" or "into".</summary>
    [JsonPropertyName("mode")] public string Mode { get; set; } = "";
    /// <summary>Rows staged so far.</summary>
    [JsonPropertyName("rows")] public long Rows { get; set; }
    /// <summary>Bytes of keys and values staged so far.</summary>
    [JsonPropertyName("bytes")] public long Bytes { get; set; }
    /// <summary>The most bytes of keys and values one load may stage: what one transaction of the instance can hold.</summary>
    [JsonPropertyName("maxBytes")] public long MaxBytes { get; set; }
    /// <summary>"staging", "committing", "committed" or "aborted".</summary>
    [JsonPropertyName("state")] public string State { get; set; } = "";
    /// <summary>Why the load was aborted, when it was.</summary>
    [JsonPropertyName("error")] public string? Error { get; set; }
}

/// <summary>A committed load: rows put, live keys deleted first (replace), and where its commit lies.</summary>
public sealed class LoadCommitResponse
{
    /// <summary>Rows put.</summary>
    [JsonPropertyName("rows")] public long Rows { get; set; }
    /// <summary>Bytes of keys and values put.</summary>
    [JsonPropertyName("bytes")] public long Bytes { get; set; }
    /// <summary>Live keys of the scope deleted before the rows were put (replace).</summary>
    [JsonPropertyName("deleted")] public long Deleted { get; set; }
    /// <summary>The commit's end in the log ("GEN:OFFSET").</summary>
    [JsonPropertyName("commitLsn")] public string CommitLsn { get; set; } = "";
    /// <summary>The time in the commit record (UTC).</summary>
    [JsonPropertyName("commitTime")] public DateTime CommitTime { get; set; }
}
