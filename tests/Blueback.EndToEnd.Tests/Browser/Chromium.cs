using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Blueback.EndToEnd.Tests.Browser;

/// <summary>Debian's Chromium, headless, driven through its DevTools protocol over a WebSocket: navigate, evaluate
/// script in the page, capture a screenshot. Nothing is downloaded; the browser's background traffic is turned off (the
/// machine's network is closed).</summary>
internal sealed class Chromium : IAsyncDisposable
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private int _nextId;

    private Chromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    public static async Task<Chromium> StartAsync(int width = 1280, int height = 860)
    {
        var exe = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("this test needs Debian's chromium (apt-get install chromium; .ci/run installs it)");
        var profile = Directory.CreateTempSubdirectory("bb-chromium-").FullName;
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--hide-scrollbars", $"--window-size={width},{height}",
            $"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank" })
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var browser = new Chromium(process, profile);
        try
        {
            // Chromium writes the port it chose, and its browser target's path, into the profile.
            var portFile = Path.Combine(profile, "DevToolsActivePort");
            var sw = Stopwatch.StartNew();
            while (!File.Exists(portFile) || File.ReadAllLines(portFile).Length < 2)
            {
                if (process.HasExited || sw.Elapsed > CallBound)
                {
                    throw new InvalidOperationException($"chromium did not start its DevTools endpoint (exit: {(process.HasExited ? process.ExitCode : "still running")})");
                }
                await Task.Delay(50);
            }
            int port = int.Parse(File.ReadAllLines(portFile)[0], System.Globalization.CultureInfo.InvariantCulture);
            using var http = new HttpClient { Timeout = CallBound };
            var targets = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list"))!.AsArray();
            var page = targets.First(t => t!["type"]!.GetValue<string>() == "page")!;
            using var cts = new CancellationTokenSource(CallBound);
            await browser._socket.ConnectAsync(new Uri(page["webSocketDebuggerUrl"]!.GetValue<string>()), cts.Token);
            await browser.CallAsync("Page.enable");
            await browser.CallAsync("Runtime.enable");
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>One DevTools call: its result, skipping the events that arrive meanwhile.</summary>
    public async Task<JsonNode?> CallAsync(string method, JsonObject? parameters = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        using var cts = new CancellationTokenSource(CallBound);
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[1 << 16];
        while (true)
        {
            using var ms = new MemoryStream();
            WebSocketReceiveResult r;
            do
            {
                r = await _socket.ReceiveAsync(buffer, cts.Token);
                ms.Write(buffer, 0, r.Count);
            }
            while (!r.EndOfMessage);
            var reply = JsonNode.Parse(ms.ToArray())!;
            if (reply["id"]?.GetValue<int>() != id)
            {
                continue;
            }
            if (reply["error"] is { } error)
            {
                throw new InvalidOperationException($"{method}: {error.ToJsonString()}");
            }
            return reply["result"];
        }
    }

    public async Task NavigateAsync(string url)
    {
        await CallAsync("Page.navigate", new JsonObject { ["url"] = url });
        await WaitForAsync("document.readyState === 'complete'", TimeSpan.FromSeconds(20));
    }

    /// <summary>The value of a script expression in the page (promises awaited).</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await CallAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result!["exceptionDetails"] is { } ex)
        {
            throw new InvalidOperationException($"script failed: {expression}: {ex.ToJsonString()}");
        }
        return JsonDocument.Parse(result["result"]!["value"]?.ToJsonString() ?? "null").RootElement.Clone();
    }

    /// <summary>Waits (bounded) until the expression is true in the page; the last page text is in the failure.</summary>
    public async Task WaitForAsync(string expression, TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var v = await EvaluateAsync($"!!({expression})");
            if (v.ValueKind == JsonValueKind.True)
            {
                return;
            }
            if (sw.Elapsed > bound)
            {
                var text = await EvaluateAsync("document.body ? document.body.innerText : ''");
                throw new TimeoutException($"the page never showed {expression} within {bound.TotalSeconds:0} s. It showed:\n{text}");
            }
            await Task.Delay(100);
        }
    }

    public async Task ScreenshotAsync(string path)
    {
        var r = await CallAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png", ["captureBeyondViewport"] = true });
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(r!["data"]!.GetValue<string>()));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // the browser goes anyway
        }
        _socket.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // a file the browser's last child still held
        }
    }
}
