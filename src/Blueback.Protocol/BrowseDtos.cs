using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>GET /v1/policies/{name}/sets/{id}/browse: a backup set opened read-only (mounted, not restored), its
/// databases and their tables as of the set.</summary>
public sealed class SetBrowse
{
    /// <summary>The set's whole id.</summary>
    [JsonPropertyName("set")] public string Set { get; set; } = "";
    /// <summary>The instance the set is of.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    /// <summary>The set (and the sets of its chain) in words.</summary>
    [JsonPropertyName("describe")] public string Describe { get; set; } = "";
    /// <summary>When the set's backup ended (UTC).</summary>
    [JsonPropertyName("ended")] public DateTime Ended { get; set; }
    /// <summary>The time of the last commit the set holds (UTC), or null when its logs hold none.</summary>
    [JsonPropertyName("lastCommit")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public DateTime? LastCommit { get; set; }
    /// <summary>Its databases, by name.</summary>
    [JsonPropertyName("databases")] public List<BrowseDatabase> Databases { get; set; } = [];
}

/// <summary>One database of a browsed set.</summary>
public sealed class BrowseDatabase
{
    /// <summary>The database's name.</summary>
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    /// <summary>Its tables, by name.</summary>
    [JsonPropertyName("tables")] public List<BrowseTable> Tables { get; set; } = [];
}

/// <summary>One table of a browsed set.</summary>
public sealed class BrowseTable
{
    /// <summary>The table's name.</summary>
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    /// <summary>Its rows at the end of the set's logs, from the digest the backup recorded; null when the set has none
    /// (a backup without --digest): counting them would read the whole table from the repository.</summary>
    [JsonPropertyName("rows")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Rows { get; set; }
}

/// <summary>GET /v1/policies/{name}/sets/{id}/browse/{database}/{table}: one page of a table of a set, in key order.</summary>
public sealed class BrowseRows
{
    /// <summary>The set's whole id.</summary>
    [JsonPropertyName("set")] public string Set { get; set; } = "";
    /// <summary>The database read.</summary>
    [JsonPropertyName("database")] public string Database { get; set; } = "";
    /// <summary>The table read.</summary>
    [JsonPropertyName("table")] public string Table { get; set; } = "";
    /// <summary>At most the limit asked for, and at most <see cref="Routes.Limits.MaxScanPageBytes"/> of keys and whole
    /// values (beyond a first one), as a scan of the data API.</summary>
    [JsonPropertyName("items")] public List<BrowseRow> Items { get; set; } = [];
    /// <summary>Where the next page starts (its <c>from</c>), or null at the table's end.</summary>
    [JsonPropertyName("next")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Next { get; set; }
}

/// <summary>One key and its value, for display: text when UTF-8, hex otherwise, cut at
/// <see cref="BrowseRow.MaxShownBytes"/> bytes.</summary>
public sealed class BrowseRow
{
    /// <summary>The most of a value a row shows.</summary>
    public const int MaxShownBytes = 256;

    /// <summary>The key as UTF-8 text.</summary>
    [JsonPropertyName("key")] public string Key { get; set; } = "";
    /// <summary>Set when the key is not valid UTF-8 (then <see cref="Key"/> holds a lossy rendering).</summary>
    [JsonPropertyName("keyBase64")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? KeyBase64 { get; set; }
    /// <summary>The value's first bytes as text ("utf8") or as hex ("hex").</summary>
    [JsonPropertyName("value")] public string Value { get; set; } = "";
    /// <summary>"utf8" or "hex".</summary>
    [JsonPropertyName("encoding")] public string Encoding { get; set; } = "utf8";
    /// <summary>The value's whole length in bytes.</summary>
    [JsonPropertyName("bytes")] public int Bytes { get; set; }
    /// <summary>Whether <see cref="Value"/> shows only the first <see cref="MaxShownBytes"/> bytes.</summary>
    [JsonPropertyName("truncated")] public bool Truncated { get; set; }
}
