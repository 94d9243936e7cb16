using System.Net.Sockets;

namespace Blueback.Client;

/// <summary>Where the server is: <c>http://HOST:PORT</c>, or <c>unix:/path/to.sock</c> for a local server over a
/// Unix domain socket (<c>unix:@name</c>: a name in Linux's abstract namespace, as the server's internal socket is). Either way the client dials the server and data comes back on that connection: there is
/// no connect-back and no address lookup on the client's side (the Q177807 lesson).</summary>
public static class ServerAddress
{
    /// <summary>The prefix of a Unix socket address: <c>unix:/path/to.sock</c>.</summary>
    public const string UnixPrefix = "unix:";

    /// <summary>Whether <paramref name="server"/> names a server on this host: a Unix socket, <c>localhost</c> or a
    /// loopback address. Read from the address as written, with no lookup: a host name that resolves to this machine, or
    /// one of its own network addresses, counts as another host.</summary>
    public static bool IsOnThisHost(string server) =>
        server.StartsWith(UnixPrefix, StringComparison.Ordinal)
        || (Uri.TryCreate(server, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.IsLoopback);

    /// <summary>The connection handler for <paramref name="server"/> (shareable by several HttpClients) and the base
    /// address requests are relative to.</summary>
    public static SocketsHttpHandler CreateHandler(string server, out Uri baseAddress, ServerTrust? trust = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        if (server.StartsWith(UnixPrefix, StringComparison.Ordinal))
        {
            var path = server[UnixPrefix.Length..];
            if (path.Length == 0)
            {
                throw new ArgumentException("A Unix socket address needs a path: unix:/path/to/blueback.sock", nameof(server));
            }
            handler.ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path.StartsWith('@') ? "\0" + path[1..] : path), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            baseAddress = new Uri("http://localhost/");
        }
        else if (!Uri.TryCreate(server, UriKind.Absolute, out baseAddress!) || baseAddress.Scheme is not ("http" or "https"))
        {
            handler.Dispose();
            throw new ArgumentException($"'{server}' is not a server address: use http://HOST:PORT, https://HOST:PORT or unix:/path/to.sock.", nameof(server));
        }
        if (baseAddress.Scheme == "https" && trust is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = trust.Validate;
        }
        return handler;
    }
}
