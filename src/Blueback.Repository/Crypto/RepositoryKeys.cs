using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Blueback.Repository.Crypto;

/// <summary>How an encrypted repository's data key is kept in its config: wrapped (AES-256-GCM) under a key derived
/// from the passphrase or key file, so that changing the secret rewraps 32 bytes and rewrites no data.</summary>
public sealed class EncryptionConfig
{
    [JsonPropertyName("cipher")] public string Cipher { get; set; } = RepositoryKeys.CipherName;
    /// <summary>"PBKDF2-HMAC-SHA256" (a passphrase) or "HKDF-SHA256" (a key file's random bytes).</summary>
    [JsonPropertyName("kdf")] public string Kdf { get; set; } = "";
    [JsonPropertyName("iterations")] public int Iterations { get; set; }
    [JsonPropertyName("salt")] public string Salt { get; set; } = "";
    /// <summary>Nonce, tag and the wrapped master key, base64.</summary>
    [JsonPropertyName("wrappedKey")] public string WrappedKey { get; set; } = "";
    [JsonPropertyName("changed")] public DateTime Changed { get; set; }
}

/// <summary>An encrypted repository's keys, derived from one random master key: the data key (AES-256-GCM of every
/// chunk and manifest), the chunk-id key (chunk ids are HMAC-SHA256 of the content under it, so they say nothing
/// about the content to whoever reads the store) and the nonce key (a chunk's nonce comes from its id, so the same
/// content always seals to the same bytes, which is what lets two backups share it).</summary>
public sealed class RepositoryKeys
{
    public const string CipherName = "AES-256-GCM";
    public const string PassphraseKdf = "PBKDF2-HMAC-SHA256";
    public const string KeyFileKdf = "HKDF-SHA256";
    /// <summary>OWASP's figure for PBKDF2-HMAC-SHA256 (2023): a few tenths of a second per open here.</summary>
    public const int PassphraseIterations = 600_000;
    public const int NonceSize = 12;
    public const int TagSize = 16;
    private const int KeySize = 32;
    private static readonly byte[] SealMagic = "BBS1"u8.ToArray();

    private readonly byte[] _dataKey;
    private readonly byte[] _idKey;
    private readonly byte[] _nonceKey;
    private readonly byte[] _master;

    private RepositoryKeys(byte[] master)
    {
        _master = master;
        _dataKey = HKDF.Expand(HashAlgorithmName.SHA256, master, KeySize, "blueback data"u8.ToArray());
        _idKey = HKDF.Expand(HashAlgorithmName.SHA256, master, KeySize, "blueback chunk id"u8.ToArray());
        _nonceKey = HKDF.Expand(HashAlgorithmName.SHA256, master, KeySize, "blueback chunk nonce"u8.ToArray());
    }

    /// <summary>New keys for a new repository, wrapped under <paramref name="secret"/>.</summary>
    public static (RepositoryKeys Keys, EncryptionConfig Config) Create(RepositorySecret secret, string repositoryId)
    {
        var keys = new RepositoryKeys(RandomNumberGenerator.GetBytes(KeySize));
        return (keys, keys.Wrap(secret, repositoryId));
    }

    /// <summary>The master key wrapped under <paramref name="secret"/> (a fresh salt and nonce each time).</summary>
    public EncryptionConfig Wrap(RepositorySecret secret, string repositoryId)
    {
        var config = new EncryptionConfig
        {
            Kdf = secret.Kind == SecretKind.Passphrase ? PassphraseKdf : KeyFileKdf,
            Iterations = secret.Kind == SecretKind.Passphrase ? PassphraseIterations : 0,
            Salt = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)),
            Changed = DateTime.UtcNow,
        };
        var kek = DeriveWrappingKey(secret, config);
        var wrapped = new byte[NonceSize + TagSize + KeySize];
        RandomNumberGenerator.Fill(wrapped.AsSpan(0, NonceSize));
        using (var gcm = new AesGcm(kek, TagSize))
        {
            gcm.Encrypt(wrapped.AsSpan(0, NonceSize), _master, wrapped.AsSpan(NonceSize + TagSize), wrapped.AsSpan(NonceSize, TagSize), WrapContext(repositoryId));
        }
        config.WrappedKey = Convert.ToBase64String(wrapped);
        return config;
    }

    /// <summary>Unwraps the keys; a wrong secret is a clear error (the wrapping's tag fails), never garbage.</summary>
    public static RepositoryKeys Unwrap(EncryptionConfig config, RepositorySecret secret, string repositoryId, string location)
    {
        if (config.Cipher != CipherName || config.Kdf is not (PassphraseKdf or KeyFileKdf))
        {
            throw new RepositoryException($"Repository '{location}' is encrypted with {config.Cipher} and {config.Kdf}; this build knows {CipherName} with {PassphraseKdf} or {KeyFileKdf}.");
        }
        var expected = config.Kdf == PassphraseKdf ? SecretKind.Passphrase : SecretKind.KeyFile;
        if (secret.Kind != expected)
        {
            throw new RepositoryException($"Repository '{location}' is opened with a {(expected == SecretKind.Passphrase ? $"passphrase (set {RepositorySecret.PasswordVariable})" : "key file (--key-file F)")}, not with {secret.Origin}.");
        }
        byte[] wrapped;
        try
        {
            wrapped = Convert.FromBase64String(config.WrappedKey);
        }
        catch (FormatException)
        {
            throw new RepositoryException($"'{location}/config.json' is damaged: its wrapped key is not base64.");
        }
        if (wrapped.Length != NonceSize + TagSize + KeySize)
        {
            throw new RepositoryException($"'{location}/config.json' is damaged: its wrapped key is {wrapped.Length} bytes, not {NonceSize + TagSize + KeySize}.");
        }
        var master = new byte[KeySize];
        try
        {
            using var gcm = new AesGcm(DeriveWrappingKey(secret, config), TagSize);
            gcm.Decrypt(wrapped.AsSpan(0, NonceSize), wrapped.AsSpan(NonceSize + TagSize), wrapped.AsSpan(NonceSize, TagSize), master, WrapContext(repositoryId));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new RepositoryException($"{Capitalized(secret.Origin)} does not open repository '{location}' (wrong passphrase or key file, or a config.json from another repository). Nothing was read or changed.");
        }
        return new RepositoryKeys(master);
    }

    private static string Capitalized(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private static byte[] DeriveWrappingKey(RepositorySecret secret, EncryptionConfig config)
    {
        var salt = Convert.FromBase64String(config.Salt);
        return config.Kdf == PassphraseKdf
            ? Rfc2898DeriveBytes.Pbkdf2(secret.Bytes, salt, config.Iterations, HashAlgorithmName.SHA256, KeySize)
            : HKDF.DeriveKey(HashAlgorithmName.SHA256, secret.Bytes, KeySize, salt, "blueback key file"u8.ToArray());
    }

    private static byte[] WrapContext(string repositoryId) => Encoding.UTF8.GetBytes($"blueback repository {repositoryId}");

    /// <summary>A chunk's id from the SHA-256 of its content: HMAC-SHA256 of that hash under the id key, hex. (Keyed
    /// over the hash rather than over the content, so that each byte is hashed once: the same hash gives the file's
    /// digest.)</summary>
    public string ChunkId(ReadOnlySpan<byte> contentHash)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_idKey, contentHash, mac);
        return Convert.ToHexStringLower(mac);
    }

    internal void ChunkNonce(string id, Span<byte> nonce)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_nonceKey, Encoding.ASCII.GetBytes(id), mac);
        mac[..NonceSize].CopyTo(nonce);
    }

    /// <summary>Seals a chunk in place: its nonce from the id, the id as associated data (a chunk moved under
    /// another id fails to open).</summary>
    internal void SealChunk(string id, Span<byte> payload, Span<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        ChunkNonce(id, nonce);
        using var gcm = new AesGcm(_dataKey, TagSize);
        gcm.Encrypt(nonce, payload, payload, tag, Encoding.ASCII.GetBytes(id));
    }

    /// <summary>Opens a sealed chunk in place; false when it was changed (or sealed under another key).</summary>
    internal bool OpenChunk(string id, Span<byte> payload, ReadOnlySpan<byte> tag)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        ChunkNonce(id, nonce);
        using var gcm = new AesGcm(_dataKey, TagSize);
        try
        {
            gcm.Decrypt(nonce, payload, tag, payload, Encoding.ASCII.GetBytes(id));
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    /// <summary>Seals a small object (a manifest) under a random nonce, bound to its key in the store.</summary>
    public byte[] Seal(ReadOnlySpan<byte> plaintext, string key)
    {
        var sealedBytes = new byte[SealMagic.Length + NonceSize + TagSize + plaintext.Length];
        SealMagic.CopyTo(sealedBytes, 0);
        var nonce = sealedBytes.AsSpan(SealMagic.Length, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var gcm = new AesGcm(_dataKey, TagSize);
        gcm.Encrypt(nonce, plaintext, sealedBytes.AsSpan(SealMagic.Length + NonceSize + TagSize), sealedBytes.AsSpan(SealMagic.Length + NonceSize, TagSize), Encoding.UTF8.GetBytes(key));
        return sealedBytes;
    }

    /// <summary>Opens what <see cref="Seal"/> made for <paramref name="key"/>; a changed byte is an error naming it.</summary>
    public byte[] Open(ReadOnlySpan<byte> sealedBytes, string key)
    {
        int head = SealMagic.Length + NonceSize + TagSize;
        if (sealedBytes.Length < head || !sealedBytes[..SealMagic.Length].SequenceEqual(SealMagic))
        {
            throw new RepositoryException($"'{key}' is not sealed as an encrypted repository's objects are (it was written by something else, or damaged). Run 'blueback verify'.");
        }
        var plaintext = new byte[sealedBytes.Length - head];
        try
        {
            using var gcm = new AesGcm(_dataKey, TagSize);
            gcm.Decrypt(sealedBytes.Slice(SealMagic.Length, NonceSize), sealedBytes[head..], sealedBytes.Slice(SealMagic.Length + NonceSize, TagSize), plaintext, Encoding.UTF8.GetBytes(key));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new RepositoryException($"'{key}' fails its authentication (AES-GCM tag): it was changed or damaged, or moved from another place. Run 'blueback verify' and use another set.");
        }
        return plaintext;
    }
}
