using System.Text.Json.Serialization;

namespace Blueback.Protocol.Programs;

/// <summary>What <c>blueback prove --json</c> prints for each set it proved.</summary>
public sealed class ProveOutput
{
    /// <summary>The set proved.</summary>
    [JsonPropertyName("set")] public string Set { get; set; } = "";

    /// <summary>The set's instance.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";

    /// <summary>The set's type.</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";

    /// <summary>The proof's outcome, as recorded beside the set.</summary>
    [JsonPropertyName("proof")] public ProofOutcome Proof { get; set; } = new();
}

/// <summary>A proof: the set's chain restored into scratch, recovered, every page checked, every table's digest
/// compared with the one the backup recorded.</summary>
public sealed class ProofOutcome
{
    /// <summary>When the proof ended (UTC).</summary>
    [JsonPropertyName("time")] public DateTime Time { get; set; }

    /// <summary>Whether the set came back whole.</summary>
    [JsonPropertyName("ok")] public bool Ok { get; set; }

    /// <summary>Seconds the proof took.</summary>
    [JsonPropertyName("seconds")] public double Seconds { get; set; }

    /// <summary>The sets restored, the full first.</summary>
    [JsonPropertyName("chain")] public List<string> Chain { get; set; } = [];

    /// <summary>Pages whose checksum was checked.</summary>
    [JsonPropertyName("pagesChecked")] public long PagesChecked { get; set; }

    /// <summary>Tables read.</summary>
    [JsonPropertyName("tables")] public int Tables { get; set; }

    /// <summary>Rows read.</summary>
    [JsonPropertyName("rows")] public long Rows { get; set; }

    /// <summary>True: every table matched the backup's digest; false: one did not; null: the set has no digest.</summary>
    [JsonPropertyName("digestMatch")] public bool? DigestMatch { get; set; }

    /// <summary>What was wrong, each naming the object.</summary>
    [JsonPropertyName("problems")] public List<string> Problems { get; set; } = [];
}
