using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Hostile and broken input against a real server: a seeded, bounded generator of malformed requests
/// (raw bytes, bad request lines, huge headers, truncated bodies, random routes, methods, content types and bodies,
/// backup calls out of order, random bytes as restore uploads) and slow-loris connections. Every answer must be a
/// 2xx, a 4xx or a 503 (or Kestrel's 505 to an unknown HTTP version), or a closed connection; a client beside it must never fail; the server's memory stays
/// bounded; and every database passes <c>db checksum</c> afterwards.</summary>
public class FuzzTests
{
    [Fact(Timeout = 600_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public Task A_seeded_run_of_hostile_requests_gets_only_clear_answers_and_disturbs_no_one() => RunAsync(seed: 20261122, cases: 1500);

    [Fact(Timeout = 1_800_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public Task A_long_seeded_run_of_hostile_requests_gets_only_clear_answers_and_disturbs_no_one() => RunAsync(seed: 7, cases: 15000);

    private sealed class Tally
    {
        public Dictionary<string, int> Answers { get; } = new(StringComparer.Ordinal);
        public List<string> Bad { get; } = [];

        public void Add(string kind, string outcome, string? detail = null)
        {
            lock (this)
            {
                var k = $"{kind}: {outcome}";
                Answers[k] = Answers.GetValueOrDefault(k) + 1;
                if (detail is not null && Bad.Count < 20)
                {
                    Bad.Add(detail);
                }
            }
        }
    }

    private static async Task RunAsync(int seed, int cases)
    {
        using var dir = new TempDir();
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, """
            { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" }, { "name": "public" } ] }, { "name": "directory", "databases": [ { "name": "directory" } ] } ],
              "backupLeaseSeconds": 3, "limits": { "requestHeadersTimeoutSeconds": 2, "maxRestoreSessions": 2 } }
            """);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        var uri = new Uri(server.Url);
        using var c = new BluebackClient(server.Url);
        await c.PutAsync("store", "mailbox", "t", "seed"u8.ToArray(), "v"u8.ToArray());

        // A client beside the fuzzer: every call must succeed, all along.
        using var stopCanary = new CancellationTokenSource();
        int canaryCalls = 0;
        var canaryFailures = new List<string>();
        var canary = Task.Run(async () =>
        {
            using var cc = new BluebackClient(server.Url, TimeSpan.FromSeconds(30));
            for (int i = 0; !stopCanary.IsCancellationRequested; i++)
            {
                try
                {
                    var key = Encoding.UTF8.GetBytes($"canary{i % 50}");
                    await cc.PutAsync("directory", "directory", "t", key, BitConverter.GetBytes(i));
                    var got = await cc.GetAsync("directory", "directory", "t", key);
                    if (got is null || BitConverter.ToInt32(got) != i)
                    {
                        canaryFailures.Add($"canary {i}: read back {(got is null ? "nothing" : BitConverter.ToInt32(got).ToString(System.Globalization.CultureInfo.InvariantCulture))}");
                    }
                    canaryCalls++;
                }
                catch (Exception ex) when (ex is BluebackApiException or HttpRequestException or TaskCanceledException)
                {
                    canaryFailures.Add($"canary {i}: {ex.Message}");
                }
                await Task.Delay(5);
            }
        });

        var rng = new Random(seed);
        var tally = new Tally();
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5) }) { BaseAddress = uri, Timeout = TimeSpan.FromSeconds(20) };
        long peakRss = 0;
        for (int i = 0; i < cases; i++)
        {
            int kind = rng.Next(9);
            try
            {
                switch (kind)
                {
                    case 0: await RawAsync(uri, RandomBytes(rng, rng.Next(1, 2000)), "raw bytes", tally); break;
                    case 1: await RawAsync(uri, Encoding.ASCII.GetBytes(BadRequestLine(rng)), "bad request line", tally); break;
                    case 2: await RawAsync(uri, Encoding.ASCII.GetBytes($"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 40_000 + rng.Next(100_000))}\r\n\r\n"), "huge header", tally); break;
                    case 3: await RawAsync(uri, Encoding.ASCII.GetBytes($"POST {Routes.Batch("store")} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TestToken.Value}\r\nContent-Type: application/json\r\nContent-Length: {1000 + rng.Next(100_000)}\r\n\r\n{{\"ops\":[{{\"op\""), "truncated body", tally); break;
                    case 4: await HttpAsync(http, RandomRequest(rng), "random route", tally); break;
                    case 5: await HttpAsync(http, RandomBody(rng), "random body", tally); break;
                    case 6: await HttpAsync(http, BackupOutOfOrder(rng), "backup out of order", tally); break;
                    case 7: await RestoreGarbageAsync(http, rng, tally); break;
                    default: await HttpAsync(http, WrongContentType(rng), "wrong content type", tally); break;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or SocketException or TaskCanceledException)
            {
                tally.Add(Kinds[kind], "connection closed");
            }
            if (i % 100 == 0)
            {
                peakRss = Math.Max(peakRss, Rss(server.Pid));
                Assert.False(server.HasExited, $"the server exited after {i} cases");
            }
        }

        // Slow loris: connections that send their headers a byte at a time are cut off at the header timeout, and
        // the canary is served meanwhile.
        var loris = Enumerable.Range(0, 30).Select(_ => SlowLorisAsync(uri)).ToList();
        await Task.Delay(4000);
        var cut = await Task.WhenAll(loris);
        Assert.All(cut, closed => Assert.True(closed, "a slow-loris connection was still open after the header timeout"));

        await stopCanary.CancelAsync();
        await canary;
        peakRss = Math.Max(peakRss, Rss(server.Pid));
        var summary = string.Join("\n", tally.Answers.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"  {kv.Key}: {kv.Value}"));
        Assert.True(tally.Bad.Count == 0, $"answers that are not 2xx/4xx/503:\n{string.Join("\n", tally.Bad)}\n{summary}");
        Assert.True(canaryFailures.Count == 0, $"the client beside the fuzzer failed {canaryFailures.Count} of {canaryCalls} times: {string.Join("; ", canaryFailures.Take(5))}");
        Assert.True(canaryCalls > 50, $"the canary made only {canaryCalls} calls");
        Assert.True(peakRss < 1L << 30, $"server memory grew to {peakRss >> 20} MiB");
        Console.WriteLine($"fuzz seed {seed}: {cases} cases, peak server memory {peakRss >> 20} MiB, canary {canaryCalls} calls\n{summary}");

        await server.TerminateAsync(TimeSpan.FromSeconds(10));
        foreach (var f in new[] { "store", "directory" }.SelectMany(i => Directory.GetFiles(Path.Combine(dir["data"], i), "*.bdb")))
        {
            var check = BackupProgramTests.Cli("db", "checksum", f);
            Assert.True(check.Exit == 0, $"db checksum {f}: {check.Out}{check.Err}");
        }
    }

    private static readonly string[] Kinds = ["raw bytes", "bad request line", "huge header", "truncated body", "random route", "random body", "backup out of order", "restore garbage", "wrong content type"];

    private static long Rss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }

    private static string BadRequestLine(Random rng) => rng.Next(6) switch
    {
        0 => "GET /v1/status HTTP/9.9\r\nHost: x\r\n\r\n",
        1 => "FOO\r\n\r\n",
        2 => $"get {Routes.Status} HTTP/1.1\r\nHost: x\r\n\r\n",
        3 => $"GET /{new string('a', 20_000)} HTTP/1.1\r\nHost: x\r\n\r\n",
        4 => "GET /v1/status HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
        _ => $"POST {Routes.Status} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nnot chunked\r\n0\r\n\r\n",
    };

    private static readonly string[] Segments = ["store", "directory", "mailbox", "public", "t", "nosuch", "..", "%00", "%ZZ", "%2F%2F", "é", " ", "a%20b", new string('k', 3000), "0123456789abcdef0123456789abcdef", "1", "-1", "4294967296"];

    private static string Seg(Random rng) => Segments[rng.Next(Segments.Length)];

    private static readonly HttpMethod[] Methods = [HttpMethod.Get, HttpMethod.Put, HttpMethod.Post, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Head, HttpMethod.Options];

    private static HttpRequestMessage RandomRequest(Random rng)
    {
        var path = rng.Next(9) switch
        {
            0 => $"/v1/instances/{Seg(rng)}/databases/{Seg(rng)}/tables/{Seg(rng)}/keys/{Seg(rng)}",
            1 => $"/v1/instances/{Seg(rng)}/databases/{Seg(rng)}/tables/{Seg(rng)}/keys?from={Seg(rng)}&to={Seg(rng)}&limit={Seg(rng)}&reverse={Seg(rng)}",
            2 => $"/v1/instances/{Seg(rng)}/batch",
            3 => $"/v1/instances/{Seg(rng)}/backups",
            4 => $"/v1/backups/{Seg(rng)}/{(rng.Next(2) == 0 ? "logs/" + Seg(rng) : "databases/" + Seg(rng) + "/image")}",
            5 => $"/v1/restores/{Seg(rng)}/{(rng.Next(2) == 0 ? "logs/" + Seg(rng) : "recover")}",
            6 => $"/v1/tokens/{Seg(rng)}",
            7 => "/v1/status",
            _ => "/" + Seg(rng) + "/" + Seg(rng),
        };
        var req = new HttpRequestMessage(Methods[rng.Next(Methods.Length)], path);
        Authorize(req, rng);
        if (req.Method != HttpMethod.Get && req.Method != HttpMethod.Head && rng.Next(2) == 0)
        {
            req.Content = new ByteArrayContent(RandomBytes(rng, rng.Next(0, 5000)));
        }
        return req;
    }

    private static void Authorize(HttpRequestMessage req, Random rng)
    {
        int r = rng.Next(10);
        if (r < 8)
        {
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestToken.Value);
        }
        else if (r == 8)
        {
            req.Headers.TryAddWithoutValidation("Authorization", Encoding.Latin1.GetString(RandomBytes(rng, 40)).Replace('\r', 'x').Replace('\n', 'x'));
        }
    }

    private static readonly string[] Samples =
    [
        """{"ops":[{"op":"put","database":"mailbox","table":"t","key":"k","value":"v"},{"op":"delete","database":"public","table":"t","key":"x"}]}""",
        """{"type":"full"}""",
        """{"type":"incremental","id":"0123456789abcdef0123456789abcdef"}""",
        """{"role":"read","name":"fuzz"}""",
        """{"ops":[{"op":"put","database":"mailbox","table":"t","keyBase64":"AAEC","valueBase64":"////"}]}""",
    ];

    private const string Noise = "{}[]\",:0aé\\\u0000";

    private static HttpRequestMessage RandomBody(Random rng)
    {
        var chars = Samples[rng.Next(Samples.Length)].ToCharArray().ToList();
        for (int m = rng.Next(1, 6); m > 0 && chars.Count > 0; m--)
        {
            int at = rng.Next(chars.Count);
            switch (rng.Next(3))
            {
                case 0: chars.RemoveAt(at); break;
                case 1: chars.Insert(at, Noise[rng.Next(Noise.Length)]); break;
                default: chars[at] = (char)rng.Next(32, 127); break;
            }
        }
        var route = rng.Next(3) switch { 0 => Routes.Batch("store"), 1 => Routes.BeginBackup("store"), _ => Routes.Tokens };
        var req = new HttpRequestMessage(HttpMethod.Post, route) { Content = new StringContent(new string([.. chars]), Encoding.UTF8, "application/json") };
        Authorize(req, rng);
        return req;
    }

    private static HttpRequestMessage BackupOutOfOrder(Random rng)
    {
        var id = rng.Next(3) == 0 ? "0123456789abcdef0123456789abcdef" : Seg(rng);
        var (method, path) = rng.Next(6) switch
        {
            0 => (HttpMethod.Post, Routes.BackupLogs(id)),
            1 => (HttpMethod.Post, Routes.BackupTruncate(id)),
            2 => (HttpMethod.Post, Routes.BackupEnd(id)),
            3 => (HttpMethod.Get, Routes.BackupLog(id, (uint)rng.Next(100))),
            4 => (HttpMethod.Get, Routes.BackupImage(id, Seg(rng))),
            _ => (HttpMethod.Delete, Routes.Backup(id)),
        };
        var req = new HttpRequestMessage(method, path);
        Authorize(req, rng);
        return req;
    }

    private static HttpRequestMessage WrongContentType(Random rng)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, rng.Next(2) == 0 ? Routes.Batch("store") : Routes.BeginBackup("store"))
        {
            Content = new ByteArrayContent(RandomBytes(rng, rng.Next(0, 300))),
        };
        req.Content.Headers.ContentType = new MediaTypeHeaderValue(rng.Next(2) == 0 ? "text/plain" : "application/x-www-form-urlencoded");
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestToken.Value);
        return req;
    }

    /// <summary>A restore session of a new instance, fed random bytes with random lengths and hashes, then aborted.</summary>
    private static async Task RestoreGarbageAsync(HttpClient http, Random rng, Tally tally)
    {
        var id = Convert.ToHexStringLower(RandomBytes(rng, 16));
        var begin = new HttpRequestMessage(HttpMethod.Post, Routes.BeginRestore($"fuzz-{rng.Next(5)}"))
        {
            Content = JsonContent(new BeginRestoreRequest { Mode = "new", Id = id, Sets = ["x"], GenLow = 1, GenHigh = (uint)rng.Next(0, 5) }),
        };
        begin.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestToken.Value);
        await HttpAsync(http, begin, "restore garbage", tally);
        for (int n = rng.Next(1, 4); n > 0; n--)
        {
            var body = RandomBytes(rng, rng.Next(0, 20_000));
            var put = new HttpRequestMessage(HttpMethod.Put, rng.Next(2) == 0 ? Routes.RestoreImage(id, Seg(rng)) : Routes.RestoreLog(id, (uint)rng.Next(10))) { Content = new ByteArrayContent(body) };
            put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestToken.Value);
            if (rng.Next(4) > 0)
            {
                put.Headers.TryAddWithoutValidation(Routes.Sha256Header, rng.Next(2) == 0 ? Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)) : Convert.ToHexStringLower(RandomBytes(rng, rng.Next(30, 33))));
            }
            if (rng.Next(3) == 0)
            {
                // Chunk sizes: right, wrong in sum, huge runs, or garbage.
                string sizes = rng.Next(4) switch
                {
                    0 => body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    1 => $"{rng.Next()}*{rng.Next()}",
                    2 => string.Join(',', Enumerable.Range(0, rng.Next(1, 50)).Select(_ => rng.Next(-5, 9000))),
                    _ => Convert.ToBase64String(RandomBytes(rng, rng.Next(1, 40))),
                };
                put.Headers.TryAddWithoutValidation(Routes.ChunkSizesHeader, sizes);
            }
            await HttpAsync(http, put, "restore garbage", tally);
        }
        var recover = new HttpRequestMessage(HttpMethod.Post, Routes.RestoreRecover(id));
        recover.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestToken.Value);
        await HttpAsync(http, recover, "restore garbage", tally);
        var abort = new HttpRequestMessage(HttpMethod.Delete, Routes.Restore(id));
        abort.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestToken.Value);
        await HttpAsync(http, abort, "restore garbage", tally);
    }

    private static ByteArrayContent JsonContent(BeginRestoreRequest req)
    {
        var c = new ByteArrayContent(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(req, ProtocolJson.Default.BeginRestoreRequest));
        c.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return c;
    }

    private static async Task HttpAsync(HttpClient http, HttpRequestMessage req, string kind, Tally tally)
    {
        using (req)
        using (var r = await http.SendAsync(req))
        {
            int code = (int)r.StatusCode;
            bool ok = code is >= 200 and < 500 || code == 503;
            tally.Add(kind, code.ToString(System.Globalization.CultureInfo.InvariantCulture), ok ? null : $"{req.Method} {req.RequestUri}: {code} {await r.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>Sends bytes on a raw connection and reads the answer's status line, if any (a closed connection is a
    /// fine answer to garbage).</summary>
    private static async Task RawAsync(Uri uri, byte[] bytes, string kind, Tally tally)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(uri.Host, uri.Port);
        var stream = client.GetStream();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await stream.WriteAsync(bytes, cts.Token);
            client.Client.Shutdown(SocketShutdown.Send);
            var buffer = new byte[64];
            int n = await stream.ReadAsync(buffer, cts.Token);
            var head = Encoding.ASCII.GetString(buffer, 0, n);
            if (n == 0 || !head.StartsWith("HTTP/1.1 ", StringComparison.Ordinal))
            {
                tally.Add(kind, "connection closed");
                return;
            }
            int code = int.Parse(head.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
            // 505 is Kestrel's own answer to an HTTP version it does not speak: the protocol's refusal, not a fault.
            bool ok = code is >= 200 and < 500 || code is 503 or 505;
            tally.Add(kind, code.ToString(System.Globalization.CultureInfo.InvariantCulture), ok ? null : $"{kind}: {head}");
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            tally.Add(kind, "connection closed");
        }
        catch (OperationCanceledException)
        {
            tally.Add(kind, "no answer in 10 s", $"{kind}: the server neither answered nor closed within 10 s");
        }
    }

    /// <summary>Headers a byte every 300 ms; true once the server has closed the connection (or answered 408).</summary>
    private static async Task<bool> SlowLorisAsync(Uri uri)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(uri.Host, uri.Port);
        var stream = client.GetStream();
        var text = Encoding.ASCII.GetBytes($"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: {new string('z', 200)}");
        var sw = Stopwatch.StartNew();
        foreach (var b in text)
        {
            try
            {
                await stream.WriteAsync(new[] { b });
            }
            catch (IOException)
            {
                return true;
            }
            if (client.Client.Poll(0, SelectMode.SelectRead))
            {
                return true; // the server answered (408) or closed
            }
            if (sw.Elapsed > TimeSpan.FromSeconds(20))
            {
                return false;
            }
            await Task.Delay(300);
        }
        return false;
    }
}
