using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Blueback.Client;

namespace Blueback.Client.Tests;

/// <summary>Trusting an https:// server by a pinned fingerprint (exactly that certificate) or by the operator's own
/// CA (a chain ending at it and a matching name), and the refusal of a pin or a CA file that is not one.</summary>
public sealed class ServerTrustTests : IDisposable
{
    private readonly X509Certificate2 _ca = Ca("Blueback test CA");
    private readonly X509Certificate2 _otherCa = Ca("Another CA");

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
    }

    private static X509Certificate2 Ca(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Leaf(X509Certificate2 issuer, string host = "localhost")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build());
        var serial = RandomNumberGenerator.GetBytes(8);
        return request.Create(issuer, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
    }

    private static string WritePem(X509Certificate2 certificate)
    {
        var path = Path.Combine(Path.GetTempPath(), $"bb-ca-{Guid.NewGuid():N}.pem");
        File.WriteAllText(path, certificate.ExportCertificatePem());
        return path;
    }

    [Fact]
    public void A_pin_trusts_exactly_its_certificate_whatever_the_chain_or_name_errors()
    {
        using var leaf = Leaf(_ca);
        using var other = Leaf(_ca);
        var fingerprint = ServerTrust.Fingerprint(leaf);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(leaf.RawData)), fingerprint);

        var withColons = string.Join(':', fingerprint.Chunk(2).Select(c => new string(c)));
        foreach (var pin in new[] { fingerprint, fingerprint.ToLowerInvariant(), withColons, "sha256/" + fingerprint })
        {
            var trust = ServerTrust.FromPin(pin);
            Assert.True(trust.Validate(this, leaf, null, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch), pin);
            Assert.False(trust.Validate(this, other, null, SslPolicyErrors.None), pin);
            Assert.False(trust.Validate(this, null, null, SslPolicyErrors.RemoteCertificateNotAvailable), pin);
        }
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")] // 63 digits
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg")] // not hex
    public void A_pin_that_is_not_a_sha256_fingerprint_is_refused(string pin)
    {
        var ex = Assert.Throws<ArgumentException>(() => ServerTrust.FromPin(pin));
        Assert.Contains("not a SHA-256 fingerprint", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ca_trusts_the_certificates_it_signed_when_the_name_matches_and_no_others()
    {
        var path = WritePem(_ca);
        try
        {
            var trust = ServerTrust.FromCaFile(path);
            using var signed = Leaf(_ca);
            using var foreign = Leaf(_otherCa);
            // The system roots do not know the CA: the platform reports a chain error, which the CA then settles.
            Assert.True(trust.Validate(this, signed, null, SslPolicyErrors.RemoteCertificateChainErrors));
            Assert.False(trust.Validate(this, foreign, null, SslPolicyErrors.RemoteCertificateChainErrors));
            Assert.False(trust.Validate(this, signed, null, SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_ca_file_that_is_not_a_pem_certificate_is_refused_naming_it()
    {
        var path = Path.Combine(Path.GetTempPath(), $"bb-ca-{Guid.NewGuid():N}.pem");
        File.WriteAllText(path, "not a certificate");
        try
        {
            var ex = Assert.Throws<IOException>(() => ServerTrust.FromCaFile(path));
            Assert.Contains($"--ca '{path}'", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
