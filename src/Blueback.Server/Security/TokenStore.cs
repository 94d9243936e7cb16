using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Blueback.Server.Security;

/// <summary>What a token may do. Each route names the role it needs; <see cref="Grants"/> says which roles cover it.</summary>
public enum Role
{
    /// <summary>Data reads, and status.</summary>
    Read,
    /// <summary>Data reads and writes.</summary>
    Write,
    /// <summary>Backup sessions, and status.</summary>
    Backup,
    /// <summary>Restore sessions, and status.</summary>
    Restore,
    /// <summary>Everything, and token management.</summary>
    Admin,
}

public static class Roles
{
    public static bool TryParse(string? text, out Role role) =>
        Enum.TryParse(text, ignoreCase: true, out role) && Enum.IsDefined(role) && !int.TryParse(text, out _);

    /// <summary>True when a token of role <paramref name="held"/> may call a route that needs <paramref name="needed"/>.</summary>
    public static bool Grants(Role held, Role needed) => held == Role.Admin || held == needed || (held == Role.Write && needed == Role.Read);

    public static string Name(Role r) => r.ToString().ToLowerInvariant();
}

/// <summary>A token as the server keeps it: never the secret, only a salted SHA-256 of it.</summary>
public sealed class StoredToken
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("role")] public string Role { get; set; } = "";
    [JsonPropertyName("salt")] public string Salt { get; set; } = "";
    [JsonPropertyName("hash")] public string Hash { get; set; } = "";
    [JsonPropertyName("created")] public DateTime Created { get; set; }
}

/// <summary>The server's tokens, in DATA/auth/tokens.json (mode 0600). A token reads <c>bbt_ID_SECRET</c>: the id
/// finds the entry, the secret is checked against its salted hash in constant time. On first start the store makes
/// an admin token and writes it to DATA/auth/admin.token (mode 0600), the one place a secret is ever written.</summary>
public sealed class TokenStore
{
    public const string Prefix = "bbt_";
    private readonly Lock _lock = new();
    private readonly string _path;
    private List<StoredToken> _tokens;

    private TokenStore(string path, List<StoredToken> tokens)
    {
        _path = path;
        _tokens = tokens;
    }

    public string Directory => Path.GetDirectoryName(_path)!;
    public string AdminTokenPath => Path.Combine(Directory, "admin.token");

    /// <summary>Opens the store, creating it with an admin token on first start (the token from
    /// <paramref name="adminTokenFile"/> when given, so automation can choose it; otherwise a new one).</summary>
    public static TokenStore Open(string dataDirectory, string? adminTokenFile, out string? createdAdminTokenPath)
    {
        var dir = Path.Combine(dataDirectory, "auth");
        var path = Path.Combine(dir, "tokens.json");
        createdAdminTokenPath = null;
        if (File.Exists(path))
        {
            try
            {
                return new TokenStore(path, JsonSerializer.Deserialize(File.ReadAllBytes(path), TokenJson.Default.ListStoredToken) ?? []);
            }
            catch (JsonException ex)
            {
                throw new ServerConfigException($"'{path}' (the server's tokens) is not valid JSON: {ex.Message}. Restore it from a backup of the data directory, or remove it to start over with a new admin token (every other token is then lost).");
            }
        }
        System.IO.Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var store = new TokenStore(path, []);
        string secret;
        if (adminTokenFile is not null)
        {
            secret = File.ReadAllText(adminTokenFile).Trim();
            if (!TryParse(secret, out _, out _))
            {
                throw new ServerConfigException($"'{adminTokenFile}' does not hold a Blueback token ({Prefix}ID_SECRET, as 'blueback token create' prints).");
            }
            store.Add(secret, "admin (first start)", Role.Admin);
        }
        else
        {
            secret = store.Create("admin (first start)", Role.Admin).Token;
        }
        WritePrivate(store.AdminTokenPath, secret + "\n");
        createdAdminTokenPath = store.AdminTokenPath;
        return store;
    }

    /// <summary>The tokens a mounted backup set accepts (blueback mount --token-file F): F is a server's tokens.json
    /// (DATA/auth/tokens.json: each token with its role, as that server's clients use them), or tokens one per line
    /// (as 'blueback token create' prints them; each may read, and its writes reach the instance to be refused there as
    /// a mounted set's, 409, rather than as a role's, 403). Held in memory only: F is never written, and no admin token
    /// is made.</summary>
    public static TokenStore OpenReadersOf(string dataDirectory, string tokenFile)
    {
        string text;
        try
        {
            text = File.ReadAllText(tokenFile).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ServerConfigException($"Cannot read the token file '{tokenFile}': {ex.Message}");
        }
        // Kept beside the mount's data, never in the file given: token routes change only this copy.
        var store = new TokenStore(Path.Combine(dataDirectory, "auth", "tokens.json"), []);
        if (text.StartsWith('['))
        {
            try
            {
                store._ephemeral = JsonSerializer.Deserialize(text, TokenJson.Default.ListStoredToken) ?? [];
            }
            catch (JsonException ex)
            {
                throw new ServerConfigException($"'{tokenFile}' is not a server's tokens file (JSON): {ex.Message}. Give a server's DATA/auth/tokens.json, or a file of tokens one per line.");
            }
        }
        else
        {
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!TryParse(line, out _, out _))
                {
                    throw new ServerConfigException($"'{tokenFile}' holds a line that is not a Blueback token ({Prefix}ID_SECRET, as 'blueback token create' prints): give a server's tokens.json, or tokens one per line.");
                }
                store.AddEphemeral(line, $"from {Path.GetFileName(tokenFile)}", Role.Write);
            }
        }
        if (store._ephemeral.Count == 0)
        {
            throw new ServerConfigException($"'{tokenFile}' holds no token: nobody could read the mounted set. Give a file with at least one.");
        }
        return store;
    }

    public IReadOnlyList<StoredToken> List()
    {
        lock (_lock)
        {
            return [.. _tokens];
        }
    }

    /// <summary>Makes a new token; its secret is returned once and kept nowhere.</summary>
    public (string Token, StoredToken Entry) Create(string name, Role role)
    {
        var token = NewToken();
        return (token, Add(token, name, role));
    }

    /// <summary>A fresh token string (random id and 256-bit secret), stored nowhere.</summary>
    public static string NewToken() => $"{Prefix}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}_{Base64Url(RandomNumberGenerator.GetBytes(32))}";

    private StoredToken Add(string token, string name, Role role)
    {
        TryParse(token, out var id, out var secret);
        var salt = RandomNumberGenerator.GetBytes(16);
        var entry = new StoredToken { Id = id, Name = name, Role = Roles.Name(role), Salt = Convert.ToBase64String(salt), Hash = Convert.ToBase64String(Hash(salt, secret)), Created = DateTime.UtcNow };
        lock (_lock)
        {
            if (_tokens.Any(t => t.Id == id))
            {
                throw new InvalidOperationException($"A token with id {id} exists already.");
            }
            _tokens = [.. _tokens, entry];
            Save();
        }
        return entry;
    }

    /// <summary>A token that lives only in this process (never saved; gone at the next start): what the server gives the
    /// programs it runs itself (a policy's backups). Returns its secret.</summary>
    public string CreateEphemeral(string name, Role role)
    {
        var token = NewToken();
        AddEphemeral(token, name, role);
        return token;
    }

    /// <summary>Accepts <paramref name="token"/> in this process only (never saved).</summary>
    private void AddEphemeral(string token, string name, Role role)
    {
        TryParse(token, out var id, out var secret);
        var salt = RandomNumberGenerator.GetBytes(16);
        var entry = new StoredToken { Id = id, Name = name, Role = Roles.Name(role), Salt = Convert.ToBase64String(salt), Hash = Convert.ToBase64String(Hash(salt, secret)), Created = DateTime.UtcNow };
        lock (_lock)
        {
            _ephemeral = [.. _ephemeral, entry];
        }
    }

    private List<StoredToken> _ephemeral = [];

    public bool Revoke(string id)
    {
        lock (_lock)
        {
            var left = _tokens.Where(t => t.Id != id).ToList();
            if (left.Count == _tokens.Count)
            {
                return false;
            }
            _tokens = left;
            Save();
            return true;
        }
    }

    /// <summary>The entry of a valid token, or null.</summary>
    public StoredToken? Verify(string? token)
    {
        if (!TryParse(token, out var id, out var secret))
        {
            return null;
        }
        List<StoredToken> ephemeral;
        lock (_lock)
        {
            ephemeral = _ephemeral;
        }
        var entry = List().FirstOrDefault(t => t.Id == id) ?? ephemeral.FirstOrDefault(t => t.Id == id);
        if (entry is null)
        {
            return null;
        }
        var expected = Convert.FromBase64String(entry.Hash);
        return CryptographicOperations.FixedTimeEquals(expected, Hash(Convert.FromBase64String(entry.Salt), secret)) ? entry : null;
    }

    private static bool TryParse(string? token, out string id, out string secret)
    {
        id = secret = "";
        if (token is null || !token.StartsWith(Prefix, StringComparison.Ordinal) || token.Length > 200)
        {
            return false;
        }
        var rest = token[Prefix.Length..];
        int us = rest.IndexOf('_', StringComparison.Ordinal);
        if (us != 8 || rest.Length < us + 20)
        {
            return false;
        }
        id = rest[..us];
        secret = rest[(us + 1)..];
        return id.All(char.IsAsciiHexDigitLower);
    }

    private static byte[] Hash(byte[] salt, string secret) => SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(secret)]);

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private void Save() => WritePrivate(_path, JsonSerializer.Serialize(_tokens, TokenJson.Default.ListStoredToken));

    /// <summary>Writes a file readable by its owner only, whole (temporary name, flush, rename).</summary>
    private static void WritePrivate(string path, string text)
    {
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var fs = new FileStream(temp, options))
        {
            fs.Write(Encoding.UTF8.GetBytes(text));
            fs.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}

[JsonSerializable(typeof(List<StoredToken>))]
internal sealed partial class TokenJson : JsonSerializerContext;
