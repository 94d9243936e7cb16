using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/tokens.</summary>
public sealed class CreateTokenRequest
{
    /// <summary>read, write, backup, restore or admin.</summary>
    [JsonPropertyName("role")] public string? Role { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
}

public sealed class TokenInfo
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("role")] public string Role { get; set; } = "";
    [JsonPropertyName("created")] public DateTime Created { get; set; }
    /// <summary>The secret itself: only in the answer to its creation.</summary>
    [JsonPropertyName("token")] public string? Token { get; set; }
}
