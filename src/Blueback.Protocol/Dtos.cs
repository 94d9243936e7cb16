using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/instances/{instance}/batch: an atomic transaction.</summary>
public sealed class BatchRequest
{
    /// <summary>The operations, applied in order in one transaction: all commit or none (at most
    /// <see cref="Routes.Limits.MaxBatchOps"/>).</summary>
    [JsonPropertyName("ops")]
    public List<BatchOp>? Ops { get; set; }
}

/// <summary>One operation of a <see cref="BatchRequest"/>: a put or a delete of one key in one table.</summary>
public sealed class BatchOp
{
    /// <summary>"put" or "delete".</summary>
    [JsonPropertyName("op")]
    public string? Op { get; set; }

    /// <summary>The database, of the batch's instance.</summary>
    [JsonPropertyName("database")]
    public string? Database { get; set; }

    /// <summary>The table, created by its first put.</summary>
    [JsonPropertyName("table")]
    public string? Table { get; set; }

    /// <summary>A text key (stored as UTF-8); or give <see cref="KeyBase64"/>. At most
    /// <see cref="Routes.Limits.MaxKeyBytes"/> bytes.</summary>
    [JsonPropertyName("key")]
    public string? Key { get; set; }

    /// <summary>A key that is not UTF-8 text.</summary>
    [JsonPropertyName("keyBase64")]
    public string? KeyBase64 { get; set; }

    /// <summary>A text value (stored as UTF-8).</summary>
    [JsonPropertyName("value")]
    public string? Value { get; set; }

    /// <summary>A binary value, base64; for a put, give this or <see cref="Value"/>. At most
    /// <see cref="Routes.Limits.MaxValueBytes"/> bytes decoded.</summary>
    [JsonPropertyName("valueBase64")]
    public string? ValueBase64 { get; set; }
}

/// <summary>GET .../keys: one page of an ordered range scan.</summary>
public sealed class ScanResponse
{
    /// <summary>The keys and values, in key order (reversed for a reverse scan); at most the limit asked for, and at most
    /// <see cref="Routes.Limits.MaxScanPageBytes"/> of keys and values (beyond a first one).</summary>
    [JsonPropertyName("items")]
    public List<ScanItem> Items { get; set; } = [];

    /// <summary>Query string for the next page (from/to set), or null when the range is exhausted.</summary>
    [JsonPropertyName("next")]
    public ScanCursor? Next { get; set; }
}

/// <summary>One key and its value in a <see cref="ScanResponse"/>.</summary>
public sealed class ScanItem
{
    /// <summary>The key as UTF-8 text.</summary>
    [JsonPropertyName("key")]
    public string Key { get; set; } = "";

    /// <summary>Set when the key is not valid UTF-8 (then <see cref="Key"/> holds a lossy rendering).</summary>
    [JsonPropertyName("keyBase64")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? KeyBase64 { get; set; }

    /// <summary>The value, base64.</summary>
    [JsonPropertyName("value")]
    public string Value { get; set; } = "";
}

/// <summary>Where the next page of a scan starts: the from and to query parameters to ask with.</summary>
public sealed class ScanCursor
{
    /// <summary>The from parameter of the next page, or null for none.</summary>
    [JsonPropertyName("from")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? From { get; set; }

    /// <summary>The to parameter of the next page, or null for none.</summary>
    [JsonPropertyName("to")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? To { get; set; }
}

/// <summary>application/problem+json (RFC 9457).</summary>
public sealed class Problem
{
    /// <summary>A URI naming the kind of problem; "about:blank" when the status says it all.</summary>
    [JsonPropertyName("type")]
    public string Type { get; set; } = "about:blank";

    /// <summary>A short summary of the status (such as "Not Found").</summary>
    [JsonPropertyName("title")]
    public string Title { get; set; } = "";

    /// <summary>The HTTP status code.</summary>
    [JsonPropertyName("status")]
    public int Status { get; set; }

    /// <summary>What went wrong in this request, in words an operator can act on.</summary>
    [JsonPropertyName("detail")]
    public string Detail { get; set; } = "";

    /// <summary>The request path the problem concerns, or null.</summary>
    [JsonPropertyName("instance")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Instance { get; set; }
}
