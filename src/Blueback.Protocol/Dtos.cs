using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/instances/{instance}/batch: an atomic transaction.</summary>
public sealed class BatchRequest
{
    [JsonPropertyName("ops")]
    public List<BatchOp>? Ops { get; set; }
}

public sealed class BatchOp
{
    /// <summary>"put" or "delete".</summary>
    [JsonPropertyName("op")]
    public string? Op { get; set; }

    [JsonPropertyName("database")]
    public string? Database { get; set; }

    [JsonPropertyName("table")]
    public string? Table { get; set; }

    [JsonPropertyName("key")]
    public string? Key { get; set; }

    /// <summary>A key that is not UTF-8 text.</summary>
    [JsonPropertyName("keyBase64")]
    public string? KeyBase64 { get; set; }

    /// <summary>A text value (stored as UTF-8).</summary>
    [JsonPropertyName("value")]
    public string? Value { get; set; }

    [JsonPropertyName("valueBase64")]
    public string? ValueBase64 { get; set; }
}

/// <summary>GET .../keys: one page of an ordered range scan.</summary>
public sealed class ScanResponse
{
    [JsonPropertyName("items")]
    public List<ScanItem> Items { get; set; } = [];

    /// <summary>Query string for the next page (from/to set), or null when the range is exhausted.</summary>
    [JsonPropertyName("next")]
    public ScanCursor? Next { get; set; }
}

public sealed class ScanItem
{
    [JsonPropertyName("key")]
    public string Key { get; set; } = "";

    /// <summary>Set when the key is not valid UTF-8 (then <see cref="Key"/> holds a lossy rendering).</summary>
    [JsonPropertyName("keyBase64")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? KeyBase64 { get; set; }

    [JsonPropertyName("value")]
    public string Value { get; set; } = "";
}

public sealed class ScanCursor
{
    [JsonPropertyName("from")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? From { get; set; }

    [JsonPropertyName("to")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? To { get; set; }
}

/// <summary>application/problem+json (RFC 9457).</summary>
public sealed class Problem
{
    [JsonPropertyName("type")]
    public string Type { get; set; } = "about:blank";

    [JsonPropertyName("title")]
    public string Title { get; set; } = "";

    [JsonPropertyName("status")]
    public int Status { get; set; }

    [JsonPropertyName("detail")]
    public string Detail { get; set; } = "";

    [JsonPropertyName("instance")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Instance { get; set; }
}
