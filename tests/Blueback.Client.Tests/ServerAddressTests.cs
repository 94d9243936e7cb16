using System.Net.Sockets;
using System.Text;
using Blueback.Client;

namespace Blueback.Client.Tests;

/// <summary>The three forms of a server address (http, https, unix:PATH), the refusal of anything else naming the
/// forms, and a request over a Unix socket reaching the socket's path.</summary>
public class ServerAddressTests
{
    [Theory]
    [InlineData("http://127.0.0.1:7420", "http://127.0.0.1:7420/")]
    [InlineData("https://backup.example:7443/", "https://backup.example:7443/")]
    [InlineData("http://[::1]:7420", "http://[::1]:7420/")]
    [InlineData("unix:/run/blueback/blueback.sock", "http://localhost/")]
    public void Http_https_and_unix_addresses_give_the_base_address_requests_are_relative_to(string server, string expected)
    {
        using var handler = ServerAddress.CreateHandler(server, out var baseAddress);
        Assert.Equal(new Uri(expected), baseAddress);
        Assert.Equal(server.StartsWith(ServerAddress.UnixPrefix, StringComparison.Ordinal), handler.ConnectCallback is not null);
    }

    [Theory]
    [InlineData("localhost:7420")]
    [InlineData("127.0.0.1:7420")]
    [InlineData("ftp://127.0.0.1:7420")]
    [InlineData("/run/blueback.sock")]
    [InlineData("")]
    public void Anything_else_is_refused_naming_the_forms_that_work(string server)
    {
        var ex = Assert.Throws<ArgumentException>(() => ServerAddress.CreateHandler(server, out _));
        Assert.Contains("http://HOST:PORT, https://HOST:PORT or unix:/path/to.sock", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("unix:/run/blueback/blueback.sock", true)]
    [InlineData("unix:@blueback-internal", true)]
    [InlineData("http://127.0.0.1:7420", true)]
    [InlineData("http://127.8.9.10:7420", true)]
    [InlineData("http://[::1]:7420", true)]
    [InlineData("http://localhost:7420", true)]
    [InlineData("https://LOCALHOST:7443/", true)]
    [InlineData("http://10.0.0.5:7420", false)]
    [InlineData("http://[fe80::1]:7420", false)]
    [InlineData("https://backup.example:7443", false)]
    [InlineData("http://localhost.example:7420", false)]
    [InlineData("ftp://127.0.0.1:7420", false)]
    [InlineData("127.0.0.1:7420", false)]
    [InlineData("", false)]
    public void A_server_on_this_host_is_told_from_the_address_as_written(string server, bool local)
    {
        // No lookup: what decides where a backup compresses must not resolve names (the Q177807 lesson).
        Assert.Equal(local, ServerAddress.IsOnThisHost(server));
    }

    [Fact]
    public void A_unix_address_without_a_path_is_refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => ServerAddress.CreateHandler("unix:", out _));
        Assert.Contains("needs a path", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trust_applies_to_https_only()
    {
        var trust = ServerTrust.FromPin(new string('a', 64));
        using (var https = ServerAddress.CreateHandler("https://127.0.0.1:7443", out _, trust))
        {
            Assert.NotNull(https.SslOptions.RemoteCertificateValidationCallback);
        }
        using var http = ServerAddress.CreateHandler("http://127.0.0.1:7420", out _, trust);
        Assert.Null(http.SslOptions.RemoteCertificateValidationCallback);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_request_to_a_unix_address_is_sent_over_that_socket()
    {
        var path = Path.Combine(Path.GetTempPath(), $"bb-addr-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            var served = ServeOnceAsync(listener);

            using var handler = ServerAddress.CreateHandler(ServerAddress.UnixPrefix + path, out var baseAddress);
            using var http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(20) };
            var body = await http.GetStringAsync(new Uri("healthz", UriKind.Relative));

            Assert.Equal("ok", body);
            Assert.StartsWith("GET /healthz HTTP/1.1\r\n", await served, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Answers one request with 200 "ok" and returns the request's head as received.</summary>
    private static async Task<string> ServeOnceAsync(Socket listener)
    {
        using var connection = await listener.AcceptAsync();
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            int n = await connection.ReceiveAsync(buffer);
            if (n == 0)
            {
                break;
            }
            head.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray());
        connection.Shutdown(SocketShutdown.Both);
        return head.ToString();
    }
}
