using System.Globalization;
using System.Text.Json.Serialization;

namespace Blueback.Repository.Chain;

/// <summary>What a chain entry records.</summary>
public static class ChainKinds
{
    /// <summary>The chain's first entry: the repository's id and, for a repository that had sets before it had a
    /// chain, what it held then (the baseline).</summary>
    public const string Genesis = "genesis";

    /// <summary>A committed set: its id and the SHA-256 of its manifest as stored.</summary>
    public const string Set = "set";

    /// <summary>A committed shipped generation: its place and the SHA-256 of its manifest as stored.</summary>
    public const string Shipped = "shipped";

    /// <summary>A set forgotten by retention (its manifest removed, or, in an immutable repository, marked).</summary>
    public const string Forget = "forget";
}

/// <summary>One entry of the repository's hash chain, stored as <c>chain/SEQUENCE.json</c> (written once, never
/// rewritten). <see cref="Prev"/> is the SHA-256 of the previous entry's stored bytes, so changing, removing,
/// inserting or reordering an entry breaks the link after it.</summary>
public sealed class ChainEntry
{
    [JsonPropertyName("seq")] public long Seq { get; set; }

    /// <summary>SHA-256 (hex) of the previous entry's stored bytes; empty for the first entry.</summary>
    [JsonPropertyName("prev")] public string Prev { get; set; } = "";

    [JsonPropertyName("repository")] public string Repository { get; set; } = "";

    [JsonPropertyName("time")] public DateTime Time { get; set; }

    /// <summary>One of <see cref="ChainKinds"/>.</summary>
    [JsonPropertyName("kind")] public string Kind { get; set; } = "";

    /// <summary>The set's id, or a shipped generation's place (<c>shipped/I/S/G</c>).</summary>
    [JsonPropertyName("set")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Set { get; set; }

    /// <summary>SHA-256 (hex) of the manifest object's stored bytes (sealed ones, in an encrypted repository).</summary>
    [JsonPropertyName("manifest")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Manifest { get; set; }

    /// <summary>Genesis only: the committed sets and shipped generations the repository held when the chain began.</summary>
    [JsonPropertyName("baseline")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<ChainItem>? Baseline { get; set; }
}

/// <summary>A set (or shipped generation) and its manifest's hash, as a genesis entry's baseline lists them.</summary>
public sealed class ChainItem
{
    [JsonPropertyName("set")] public string Set { get; set; } = "";
    [JsonPropertyName("manifest")] public string Manifest { get; set; } = "";
}

/// <summary>The chain's last entry: its sequence number and the SHA-256 of its stored bytes. Recorded outside the
/// repository (the server's policy history, <c>list --json</c>, <c>backup --json</c>), it is what shows a chain cut
/// short or rebuilt: <c>blueback verify --expect-head SEQ:HASH</c>.</summary>
public readonly record struct ChainHead(long Seq, string Hash)
{
    public override string ToString() => $"{Seq.ToString(CultureInfo.InvariantCulture)}:{Hash}";

    /// <summary>Parses <c>SEQ:HASH</c> (the hash whole, or its first 16 or more hex digits).</summary>
    public static ChainHead Parse(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !long.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var seq) || seq < 1)
        {
            throw new FormatException($"'{text}' is not a chain head: write SEQ:HASH as 'blueback list --json' prints it (type \"chain\"), such as 12:3f5a...");
        }
        var hash = text[(colon + 1)..].Trim().ToLowerInvariant();
        if (hash.Length is < 16 or > 64 || !hash.All(char.IsAsciiHexDigit))
        {
            throw new FormatException($"'{text}': the hash after the colon must be hex, at least its first 16 digits (the whole is 64).");
        }
        return new ChainHead(seq, hash);
    }

    /// <summary>Whether <paramref name="hash"/> (whole) is this head's hash or starts with it.</summary>
    public bool Matches(string hash) => hash.StartsWith(Hash, StringComparison.Ordinal);
}
