using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Blueback.EndToEnd.Tests.Stores;

/// <summary>A TCP proxy in front of an S3 endpoint that injects the faults a real network and a real service make:
/// an outage (nothing listening, every open connection cut, for a while), 503 SlowDown answers, and an upload part
/// cut off mid-body. Bytes pass through untouched otherwise (the Host header too, so signatures hold). When a fault
/// is armed, open connections are cut so that the client's next requests come on new ones, which the proxy reads
/// the first request of.</summary>
public sealed class FaultProxy : IDisposable
{
    private readonly int _upstream;
    private readonly ConcurrentDictionary<Socket, bool> _open = new();
    private readonly CancellationTokenSource _stop = new();
    private TcpListener? _listener;
    private int _slowDowns;
    private int _cutParts;

    public FaultProxy(int upstreamPort)
    {
        _upstream = upstreamPort;
        Port = FreePort();
        Listen();
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>How many 503 SlowDown answers were given, and upload parts cut off.</summary>
    public int SlowDownsGiven { get; private set; }

    public int PartsCut { get; private set; }

    /// <summary>The next <paramref name="count"/> requests are answered 503 SlowDown.</summary>
    public void SlowDown(int count)
    {
        Interlocked.Exchange(ref _slowDowns, count);
        CutAll();
    }

    /// <summary>The next <paramref name="count"/> upload parts (requests with partNumber=) are cut off after 1 MiB
    /// of their body; 0 disarms.</summary>
    public void CutParts(int count)
    {
        Interlocked.Exchange(ref _cutParts, count);
        CutAll();
    }

    /// <summary>Nothing listens and every connection is cut for <paramref name="outage"/>; then service resumes.</summary>
    public async Task OutageAsync(TimeSpan outage)
    {
        _listener?.Stop();
        CutAll();
        await Task.Delay(outage);
        Listen();
    }

    private void Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, Port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _listener = listener;
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    return; // stopped
                }
                _ = Task.Run(() => ServeAsync(client));
            }
        });
    }

    private void CutAll()
    {
        foreach (var s in _open.Keys)
        {
            Close(s);
        }
    }

    private void Close(Socket s)
    {
        _open.TryRemove(s, out _);
        try
        {
            s.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
        s.Dispose();
    }

    private async Task ServeAsync(Socket client)
    {
        _open[client] = true;
        Socket? upstream = null;
        try
        {
            byte[] first = [];
            if (Volatile.Read(ref _slowDowns) > 0 || Volatile.Read(ref _cutParts) > 0)
            {
                var (head, rest) = await ReadHeadAsync(client);
                var text = Encoding.ASCII.GetString(head);
                if (Volatile.Read(ref _slowDowns) > 0 && Interlocked.Decrement(ref _slowDowns) >= 0)
                {
                    lock (_open)
                    {
                        SlowDownsGiven++;
                    }
                    await AnswerSlowDownAsync(client, text, rest);
                    return;
                }
                bool cut = text.Contains("partNumber=", StringComparison.Ordinal) && Interlocked.Decrement(ref _cutParts) >= 0;
                if (!cut)
                {
                    // Not the request to fault: it passes, on a connection closed after it, so that the next comes
                    // on a new one and is read here too.
                    head = CloseAfter(text);
                }
                first = [.. head, .. rest];
                if (cut)
                {
                    upstream = await ConnectAsync();
                    await upstream.SendAsync(first);
                    var buffer = new byte[64 << 10];
                    for (int sent = rest.Length; sent < 1 << 20;)
                    {
                        int n = await client.ReceiveAsync(buffer);
                        if (n == 0)
                        {
                            break;
                        }
                        await upstream.SendAsync(buffer.AsMemory(0, n));
                        sent += n;
                    }
                    lock (_open)
                    {
                        PartsCut++;
                    }
                    return; // both closed below, mid-body
                }
            }
            upstream = await ConnectAsync();
            if (first.Length > 0)
            {
                await upstream.SendAsync(first);
            }
            var up = PumpAsync(client, upstream);
            var down = PumpAsync(upstream, client);
            await Task.WhenAny(up, down);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            // A cut connection: what the fault is.
        }
        finally
        {
            Close(client);
            if (upstream is not null)
            {
                Close(upstream);
            }
        }
    }

    private async Task<Socket> ConnectAsync()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _open[s] = true;
        await s.ConnectAsync(IPAddress.Loopback, _upstream);
        return s;
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 << 10];
        while (true)
        {
            int n = await from.ReceiveAsync(buffer);
            if (n == 0)
            {
                return;
            }
            await to.SendAsync(buffer.AsMemory(0, n));
        }
    }

    /// <summary>The request's head with "Connection: close" in place of any Connection header.</summary>
    private static byte[] CloseAfter(string head)
    {
        var lines = head[..^4].Split("\r\n").Where(l => !l.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase)).ToList();
        lines.Insert(1, "Connection: close");
        return Encoding.ASCII.GetBytes(string.Join("\r\n", lines) + "\r\n\r\n");
    }

    /// <summary>Reads up to the end of the request's head; returns the head and whatever of the body came with it.</summary>
    private static async Task<(byte[] Head, byte[] Body)> ReadHeadAsync(Socket s)
    {
        var got = new List<byte>();
        var buffer = new byte[16 << 10];
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            int n = await s.ReceiveAsync(buffer, bound.Token);
            if (n == 0)
            {
                throw new IOException("closed before the request's head ended");
            }
            got.AddRange(buffer.AsSpan(0, n));
            var all = got.ToArray();
            int end = all.AsSpan().IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                return (all[..(end + 4)], all[(end + 4)..]);
            }
        }
    }

    /// <summary>Reads the body (unless the client waits for 100-continue), then answers 503 SlowDown and closes.</summary>
    private static async Task AnswerSlowDownAsync(Socket client, string head, byte[] rest)
    {
        bool waits = head.Contains("100-continue", StringComparison.OrdinalIgnoreCase);
        var length = head.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(p => long.Parse(p[1].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();
        var buffer = new byte[64 << 10];
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (long left = waits ? 0 : length - rest.Length; left > 0;)
        {
            int n = await client.ReceiveAsync(buffer, bound.Token);
            if (n == 0)
            {
                break;
            }
            left -= n;
        }
        var body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>";
        var answer = $"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {Encoding.ASCII.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";
        await client.SendAsync(Encoding.ASCII.GetBytes(answer));
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener?.Stop();
        CutAll();
        _stop.Dispose();
    }
}
