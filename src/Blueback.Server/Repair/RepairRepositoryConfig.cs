using System.Text.Json.Serialization;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.Server.Repair;

/// <summary>What "repairFrom" or --repair-from names: a warm standby's address, or a backup repository's location (a
/// directory or s3://BUCKET/PREFIX).</summary>
public sealed record RepairSourceSpec(Uri? Standby, string? Repository);

/// <summary>The config's "repairRepository": how to open a repository that "repairFrom" names (the settings the
/// repository commands take as --s3-endpoint, --s3-region, --s3-path-style, --s3-checksums, --s3-part-size and
/// --key-file; a passphrase comes from the server's BLUEBACK_REPO_PASSWORD).</summary>
public sealed class RepairRepositoryConfig
{
    [JsonPropertyName("s3Endpoint")] public string? S3Endpoint { get; set; }
    [JsonPropertyName("s3Region")] public string? S3Region { get; set; }
    [JsonPropertyName("s3PathStyle")] public bool? S3PathStyle { get; set; }
    [JsonPropertyName("s3Checksums")] public string? S3Checksums { get; set; }
    [JsonPropertyName("s3PartSize")] public string? S3PartSize { get; set; }
    [JsonPropertyName("keyFile")] public string? KeyFile { get; set; }

    public S3Settings S3 => new(S3Endpoint, S3Region, S3PathStyle, S3Checksums, S3PartSize);

    /// <summary>Checks a repair source as the config or the command line gives it: a standby's address with its token
    /// file, or a repository's location (which takes no token); null when none is given.</summary>
    public static RepairSourceSpec? Check(string? from, string? tokenFile, string where)
    {
        if (from is null)
        {
            return tokenFile is null ? null : throw new ServerConfigException($"{where}: a repair token file is given without a repair source; give the standby's address too (\"repairFrom\", --repair-from).") { Key = "repairTokenFile" };
        }
        if (from.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || from.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(from, UriKind.Absolute, out var uri))
            {
                throw new ServerConfigException($"{where}: repair source '{from}' is not a valid standby address (http://HOST:PORT or https://...).") { Key = "repairFrom" };
            }
            return tokenFile is null
                ? throw new ServerConfigException($"{where}: repair source '{from}' needs a token of that standby (role backup or admin): give its file (\"repairTokenFile\", --repair-token-file).") { Key = "repairFrom" }
                : new RepairSourceSpec(uri, null);
        }
        if (from.Contains("://", StringComparison.Ordinal) && !from.StartsWith("s3://", StringComparison.Ordinal))
        {
            throw new ServerConfigException($"{where}: repair source '{from}' is neither a standby's address (http://HOST:PORT) nor a repository (a directory or s3://BUCKET/PREFIX).") { Key = "repairFrom" };
        }
        if (tokenFile is not null)
        {
            throw new ServerConfigException($"{where}: repair source '{from}' is a repository, which takes no token (\"repairTokenFile\", --repair-token-file are a standby's); an encrypted repository's key file goes in \"repairRepository\": {{ \"keyFile\": ... }} or --key-file.") { Key = "repairTokenFile" };
        }
        return new RepairSourceSpec(null, from);
    }

    /// <summary>Checks the S3 settings as a policy's are checked when the config is read.</summary>
    public void Validate(string where)
    {
        try
        {
            RepositoryStores.Resolve(S3);
        }
        catch (RepositoryException ex)
        {
            throw new ServerConfigException($"{where}: the repair repository's S3 settings (\"repairRepository\"): {ex.Message}") { Key = "repairRepository" };
        }
    }
}
