using System.Text.Json.Serialization;

namespace Blueback.Protocol.Programs;

/// <summary>What <c>blueback forget --json</c> prints: the sets kept and why, the sets forgotten.</summary>
public sealed class ForgetOutput
{
    /// <summary>Whether nothing was changed (<c>--dry-run</c>).</summary>
    [JsonPropertyName("dryRun")] public bool DryRun { get; set; }

    /// <summary>The sets kept, each with the rules that keep it.</summary>
    [JsonPropertyName("kept")] public List<ForgetEntry> Kept { get; set; } = [];

    /// <summary>The sets forgotten (or that would be, with <see cref="DryRun"/>).</summary>
    [JsonPropertyName("forgotten")] public List<ForgetEntry> Forgotten { get; set; } = [];
}

/// <summary>One set in a <see cref="ForgetOutput"/>.</summary>
public sealed class ForgetEntry
{
    /// <summary>The set's id.</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";

    /// <summary>The set's instance.</summary>
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";

    /// <summary>The set's type.</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";

    /// <summary>When the set's backup ended (UTC).</summary>
    [JsonPropertyName("ended")] public DateTime Ended { get; set; }

    /// <summary>A kept set: the rules that keep it.</summary>
    [JsonPropertyName("reasons")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Reasons { get; set; }

    /// <summary>A forgotten set: the bytes it stores (freed by <c>repo gc</c> once no other set names its chunks).</summary>
    [JsonPropertyName("bytes")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Bytes { get; set; }
}
