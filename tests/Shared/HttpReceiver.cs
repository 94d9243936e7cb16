using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Blueback.Tests;

/// <summary>A small HTTP receiver on a TcpListener: answers each request with the next status of its script (the
/// last one repeated), one request per connection, and keeps the bodies.</summary>
internal sealed class HttpReceiver : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int[] _statuses;
    private readonly List<string> _bodies = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private HttpReceiver(int[] statuses)
    {
        _statuses = statuses;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public static HttpReceiver Start(params int[] statuses) => new(statuses);

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hook";

    public int Count
    {
        get
        {
            lock (_bodies)
            {
                return _bodies.Count;
            }
        }
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public async Task<List<string>> WaitForAsync(int count, TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        while (Count < count)
        {
            await Task.Delay(20, cts.Token);
        }
        lock (_bodies)
        {
            return [.. _bodies];
        }
    }

    private async Task LoopAsync()
    {
        try
        {
            while (true)
            {
                using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                using var stream = client.GetStream();
                var body = await ReadRequestAsync(stream, _stop.Token);
                int status;
                lock (_bodies)
                {
                    status = _statuses[Math.Min(_bodies.Count, _statuses.Length - 1)];
                    _bodies.Add(body);
                }
                var answer = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(answer, _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or IOException)
        {
            // stopped
        }
    }

    private static async Task<string> ReadRequestAsync(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(buffer) && await stream.ReadAsync(one, ct) == 1)
        {
            buffer.Add(one[0]);
        }
        var head = Encoding.ASCII.GetString([.. buffer]);
        var length = head.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)).Select(l => int.Parse(l[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, ct);
        return Encoding.UTF8.GetString(body);
    }

    private static bool EndsWithBlankLine(List<byte> b) => b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
