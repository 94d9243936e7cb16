using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary>TLS: https:// listeners from PEM files; clients trust the operator's CA or a pinned fingerprint, and
/// refuse anything else; plain http:// off loopback needs --insecure-listen.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class TlsTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    /// <summary>A CA and a server certificate it issued for 127.0.0.1 and localhost, as PEM files.</summary>
    private static (string Ca, string Cert, string Key, X509Certificate2 Server) MakeCertificates(TempDir dir)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caReq = new CertificateRequest("CN=Blueback test CA", caKey, HashAlgorithmName.SHA256);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=blueback-server", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var serial = RandomNumberGenerator.GetBytes(8);
        var server = req.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        File.WriteAllText(dir["ca.pem"], ca.ExportCertificatePem());
        File.WriteAllText(dir["server.pem"], server.ExportCertificatePem());
        File.WriteAllText(dir["server.key"], key.ExportPkcs8PrivateKeyPem());
        return (dir["ca.pem"], dir["server.pem"], dir["server.key"], server);
    }

    [Fact(Timeout = 180_000)]
    public async Task Clients_reach_an_https_server_through_its_ca_or_its_pinned_fingerprint_and_refuse_anything_else()
    {
        using var dir = new TempDir();
        var (ca, cert, key, serverCert) = MakeCertificates(dir);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--listen", "https://127.0.0.1:0", "--tls-cert", cert, "--tls-key", key);
        Assert.StartsWith("https://127.0.0.1:", server.Url, StringComparison.Ordinal);

        using (var trusted = new BluebackClient(server.Url, trust: ServerTrust.FromCaFile(ca)))
        {
            Assert.NotEmpty((await trusted.StatusAsync()).Instances);
        }
        using (var pinned = new BluebackClient(server.Url, trust: ServerTrust.FromPin(ServerTrust.Fingerprint(serverCert))))
        {
            Assert.NotEmpty((await pinned.StatusAsync()).Instances);
        }
        using (var untrusted = new BluebackClient(server.Url))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => untrusted.StatusAsync());
        }
        using (var wrongPin = new BluebackClient(server.Url, trust: ServerTrust.FromPin(new string('a', 64))))
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => wrongPin.StatusAsync());
        }

        // The backup program over TLS, with the CA; without it, a clear failure and no set.
        Assert.Equal(0, Cli("repo", "init", dir["repo"]).Exit);
        var ok = Cli("backup", "--server", server.Url, "--repo", dir["repo"], "--ca", ca);
        Assert.True(ok.Exit == 0, ok.Err);
        var refused = Cli("backup", "--server", server.Url, "--repo", dir["repo"]);
        Assert.NotEqual(0, refused.Exit);
        Assert.Contains("No set was written", refused.Err, StringComparison.Ordinal);
        var pin = Cli("token", "list", "--server", server.Url, "--pin", string.Join(':', ServerTrust.Fingerprint(serverCert).Chunk(2).Select(c => new string(c))));
        Assert.True(pin.Exit == 0, pin.Err);
    }

    [Fact(Timeout = 120_000)]
    public async Task Plain_http_off_loopback_needs_insecure_listen_and_https_needs_a_certificate()
    {
        using var dir = new TempDir();
        var open = Cli("serve", "--data", dir["data"], "--listen", "http://0.0.0.0:0");
        Assert.Equal(2, open.Exit);
        Assert.Contains("--insecure-listen", open.Err, StringComparison.Ordinal);
        var noCert = Cli("serve", "--data", dir["data"], "--listen", "https://127.0.0.1:0");
        Assert.Equal(2, noCert.Exit);
        Assert.Contains("--tls-cert", noCert.Err, StringComparison.Ordinal);
        var badKey = Cli("serve", "--data", dir["data"], "--listen", "https://127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key");
        Assert.Equal(2, badKey.Exit);
        Assert.Contains("Cannot load the TLS certificate", badKey.Err, StringComparison.Ordinal);
        using var server = await ServerProcess.StartAsync(dir["data2"], false, "--listen", "http://0.0.0.0:0", "--insecure-listen");
        Assert.Contains("WARNING: listening on http://0.0.0.0:0 without TLS", server.Output, StringComparison.Ordinal);
    }
}
