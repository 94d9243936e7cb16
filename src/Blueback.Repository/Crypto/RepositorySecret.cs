using System.Text;

namespace Blueback.Repository.Crypto;

/// <summary>What opens an encrypted repository: a passphrase (stretched with PBKDF2) or the bytes of a key file
/// (already random, so HKDF is enough). Either one only unwraps the repository's data keys; changing it rewraps
/// them (<c>blueback repo passwd</c>) without touching a chunk.</summary>
public sealed class RepositorySecret
{
    /// <summary>The environment variable a passphrase comes from.</summary>
    public const string PasswordVariable = "BLUEBACK_REPO_PASSWORD";

    /// <summary>Where <c>repo passwd</c> takes a new passphrase from.</summary>
    public const string NewPasswordVariable = "BLUEBACK_REPO_NEW_PASSWORD";

    /// <summary>A key file must hold at least this many bytes (of which a random 32 are what `repo init` writes).</summary>
    public const int MinKeyFileBytes = 32;

    private RepositorySecret(SecretKind kind, byte[] bytes, string origin)
    {
        Kind = kind;
        Bytes = bytes;
        Origin = origin;
    }

    public SecretKind Kind { get; }
    internal byte[] Bytes { get; }

    /// <summary>How messages name it ("the passphrase in BLUEBACK_REPO_PASSWORD", "key file /x/y").</summary>
    public string Origin { get; }

    public static RepositorySecret Passphrase(string passphrase, string origin = $"the passphrase in {PasswordVariable}")
    {
        if (string.IsNullOrEmpty(passphrase))
        {
            throw new RepositoryException($"{origin} is empty; a repository's passphrase cannot be empty.");
        }
        return new RepositorySecret(SecretKind.Passphrase, Encoding.UTF8.GetBytes(passphrase), origin);
    }

    public static RepositorySecret KeyFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryException($"Key file '{path}' cannot be read: {ex.Message}.", ex);
        }
        if (bytes.Length < MinKeyFileBytes)
        {
            throw new RepositoryException($"Key file '{path}' holds {bytes.Length} bytes; a key file needs at least {MinKeyFileBytes} random bytes ('blueback repo init --encrypt --key-file F' writes one when F does not exist).");
        }
        return new RepositorySecret(SecretKind.KeyFile, bytes, $"key file '{path}'");
    }

    /// <summary>Writes a new key file of 32 random bytes, readable by its owner only; refuses to overwrite one.</summary>
    public static RepositorySecret CreateKeyFile(string path)
    {
        var bytes = System.Security.Cryptography.RandomNumberGenerator.GetBytes(MinKeyFileBytes);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var fs = new FileStream(path, options))
        {
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }
        return new RepositorySecret(SecretKind.KeyFile, bytes, $"key file '{path}'");
    }

    /// <summary>The secret the environment or options give, or null when none is given.</summary>
    public static RepositorySecret? FromKeyFileOrEnvironment(string? keyFile, string variable = PasswordVariable) =>
        keyFile is not null ? KeyFile(keyFile)
        : Environment.GetEnvironmentVariable(variable) is { Length: > 0 } p ? Passphrase(p, $"the passphrase in {variable}")
        : null;
}

public enum SecretKind
{
    Passphrase,
    KeyFile,
}
