using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>POST /v1/tokens.</summary>
public sealed class CreateTokenRequest
{
    /// <summary>read, write, backup, restore or admin.</summary>
    [JsonPropertyName("role")] public string? Role { get; set; }
    /// <summary>A name for the token, shown when tokens are listed; null for none.</summary>
    [JsonPropertyName("name")] public string? Name { get; set; }
}

/// <summary>A bearer token as the server describes it: GET /v1/tokens lists them (without secrets), POST /v1/tokens
/// answers with one.</summary>
public sealed class TokenInfo
{
    /// <summary>The token's id, what DELETE /v1/tokens/{id} revokes.</summary>
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>The name given at creation (empty when none was).</summary>
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    /// <summary>read, write, backup, restore or admin.</summary>
    [JsonPropertyName("role")] public string Role { get; set; } = "";
    /// <summary>When the token was created (UTC).</summary>
    [JsonPropertyName("created")] public DateTime Created { get; set; }
    /// <summary>The secret itself: only in the answer to its creation.</summary>
    [JsonPropertyName("token")] public string? Token { get; set; }
}
