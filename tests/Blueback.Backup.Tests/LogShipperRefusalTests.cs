using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;
using Blueback.Repository.Tests;

namespace Blueback.Backup.Tests;

/// <summary>A shipper the server refuses for good in the middle of shipping (a generation it no longer has, another
/// repository that took the instance over) stops with <see cref="ShippingFailedException"/> carrying the server's
/// reason: the program prints it and exits 2. Before, the bare API error escaped the program's handlers (a stack
/// trace and exit 1, seen once in CI).</summary>
public sealed class LogShipperRefusalTests
{
    private const string Signature = "0123456789abcdef0123456789abcdef";
    private const string Reason = "Log generation 6 of instance 'store', the next the repository needs, is no longer on the server.";

    [Fact(Timeout = 60_000)]
    public async Task A_refusal_the_server_will_repeat_ends_shipping_with_the_servers_reason()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var w = repo.BeginSet("full-1", Codec.None);
        await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = 1, GenHigh = 5, LogSignature = Signature, Ended = DateTime.UtcNow }));

        using var server = new RefusingServer();
        using var client = new BluebackClient(server.Url, timeout: TimeSpan.FromSeconds(10));
        var shipper = new LogShipper(client, repo, new ShipOptions("store", TimeSpan.FromSeconds(1)));
        var notices = new List<string>();
        shipper.Notice += notices.Add;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var ex = await Assert.ThrowsAsync<ShippingFailedException>(() => shipper.RunAsync(bound.Token));

        Assert.Contains(Reason, ex.Message, StringComparison.Ordinal);
        Assert.Contains("after generation 5", ex.Message, StringComparison.Ordinal);
        Assert.False(bound.IsCancellationRequested, "the shipper retried a refusal until the test's bound");
        Assert.Equal(1, server.ReadyCalls); // refused once, not retried
    }

    /// <summary>A server that lets the shipper claim the instance, then refuses its first wait for a generation with
    /// the 409 a real server gives for a generation it no longer has.</summary>
    private sealed class RefusingServer : IDisposable
    {
        private readonly HttpListener _listener;
        private readonly Task _loop;
        private int _readyCalls;

        public RefusingServer()
        {
            // A free port, found by binding one and letting it go: another process may take it in between (an
            // outgoing connection's local port), so a few tries.
            for (int attempt = 1; ; attempt++)
            {
                int port;
                using (var probe = new TcpListener(IPAddress.Loopback, 0))
                {
                    probe.Start();
                    port = ((IPEndPoint)probe.LocalEndpoint).Port;
                }
                Url = $"http://127.0.0.1:{port}";
                var listener = new HttpListener();
                listener.Prefixes.Add(Url + "/");
                try
                {
                    listener.Start();
                    _listener = listener;
                    break;
                }
                catch (HttpListenerException) when (attempt < 5)
                {
                    listener.Close();
                }
            }
            _loop = Task.Run(ServeAsync);
        }

        public string Url { get; private set; } = "";
        public int ReadyCalls => Volatile.Read(ref _readyCalls);

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                using var response = ctx.Response;
                var path = ctx.Request.Url!.AbsolutePath;
                var method = ctx.Request.HttpMethod;
                if (method == "GET" && path == Routes.Status)
                {
                    var status = new StatusResponse { Server = "fake", Instances = [new InstanceStatus { Name = "store", State = "online", LogSignature = Signature }] };
                    await WriteAsync(response, 200, "application/json", JsonSerializer.SerializeToUtf8Bytes(status, ProtocolJson.Default.StatusResponse)).ConfigureAwait(false);
                }
                else if (method == "POST" && path == Routes.Shipping("store"))
                {
                    var claim = new ShippingClaimResponse { Instance = "store", LogSignature = Signature, ShippedThrough = 5, CompleteThrough = 7, LeaseSeconds = 10 };
                    await WriteAsync(response, 200, "application/json", JsonSerializer.SerializeToUtf8Bytes(claim, ProtocolJson.Default.ShippingClaimResponse)).ConfigureAwait(false);
                }
                else if (method == "GET" && path == Routes.ShippingReady("store"))
                {
                    Interlocked.Increment(ref _readyCalls);
                    var problem = new Problem { Title = "Shipping refused", Status = 409, Detail = Reason };
                    await WriteAsync(response, 409, "application/problem+json", JsonSerializer.SerializeToUtf8Bytes(problem, ProtocolJson.Default.Problem)).ConfigureAwait(false);
                }
                else if (method == "DELETE" && path == Routes.Shipping("store"))
                {
                    response.StatusCode = 204;
                }
                else
                {
                    response.StatusCode = 404;
                }
            }
        }

        private static async Task WriteAsync(HttpListenerResponse response, int status, string type, byte[] body)
        {
            response.StatusCode = status;
            response.ContentType = type;
            response.ContentLength64 = body.Length;
            await response.OutputStream.WriteAsync(body).ConfigureAwait(false);
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
