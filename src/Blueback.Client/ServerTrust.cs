using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Blueback.Client;

/// <summary>How a client trusts an https:// server other than through the system's roots: a CA certificate of the
/// operator's own (the chain must end at it and the name must match), or the server certificate's SHA-256
/// fingerprint (pinned: exactly that certificate, whatever its chain or name).</summary>
public sealed class ServerTrust
{
    private readonly X509Certificate2? _ca;
    private readonly byte[]? _pin;

    private ServerTrust(X509Certificate2? ca, byte[]? pin)
    {
        _ca = ca;
        _pin = pin;
    }

    /// <summary>Trusts servers whose certificate chains to the CA certificate in the PEM file at <paramref name="path"/>
    /// (and whose name matches).</summary>
    /// <exception cref="IOException">The file cannot be read or holds no PEM certificate.</exception>
    public static ServerTrust FromCaFile(string path)
    {
        try
        {
            return new ServerTrust(X509Certificate2.CreateFromPem(File.ReadAllText(path)), null);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException)
        {
            throw new IOException($"--ca '{path}' is not a readable PEM certificate: {ex.Message}", ex);
        }
    }

    /// <summary>A SHA-256 fingerprint in hex, with or without colons (as openssl x509 -fingerprint -sha256 prints).</summary>
    public static ServerTrust FromPin(string fingerprint)
    {
        var hex = fingerprint.Replace(":", "", StringComparison.Ordinal).Trim();
        if (hex.StartsWith("sha256/", StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[7..];
        }
        if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
        {
            throw new ArgumentException($"--pin '{fingerprint}' is not a SHA-256 fingerprint (64 hex digits, colons allowed).", nameof(fingerprint));
        }
        return new ServerTrust(null, Convert.FromHexString(hex));
    }

    /// <summary>SHA-256 of a certificate, as a pin is written.</summary>
    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexString(SHA256.HashData(certificate.RawData));

    internal bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            return false;
        }
        using var cert = new X509Certificate2(certificate);
        if (_pin is not null)
        {
            return CryptographicOperations.FixedTimeEquals(SHA256.HashData(cert.RawData), _pin);
        }
        if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false; // a name mismatch (or no certificate) fails whatever the CA
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(_ca!);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }
        return custom.Build(cert);
    }
}
