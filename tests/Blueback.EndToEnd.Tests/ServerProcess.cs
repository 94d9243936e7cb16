using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Blueback.EndToEnd.Tests;

/// <summary>A real <c>blueback serve</c> process on a free loopback port (and optionally a Unix socket).</summary>
public sealed partial class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(Process process, string dataDirectory, string? unixSocket)
    {
        _process = process;
        DataDirectory = dataDirectory;
        UnixSocket = unixSocket;
    }

    public string DataDirectory { get; }
    public string? UnixSocket { get; }
    public string Url { get; private set; } = "";
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string Cli => Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    public static Task<ServerProcess> StartAsync(string dataDirectory, bool unixSocket = false, params string[] extra) =>
        StartInAsync([], dataDirectory, unixSocket, extra);

    /// <summary>All the addresses the server printed (http://IP:PORT).</summary>
    public List<string> Urls { get; } = new();

    /// <summary>Starts the server under a wrapper command (such as <c>ip netns exec NAME</c>, which execs it: the
    /// process id stays the server's).</summary>
    public static Task<ServerProcess> StartInAsync(string[] wrapper, string dataDirectory, bool unixSocket, params string[] extra) =>
        StartInAsync(wrapper, dataDirectory, unixSocket, testToken: true, extra, null);

    /// <summary>Starts a server that makes its own admin token on first start (not the test run's).</summary>
    public static Task<ServerProcess> StartWithOwnTokenAsync(string dataDirectory) => StartInAsync([], dataDirectory, false, testToken: false, [], null);

    /// <summary>Starts <c>blueback standby --to DIR</c> (a server too: same output, same readiness line).</summary>
    public static Task<ServerProcess> StartStandbyAsync(string dataDirectory, params string[] extra) =>
        StartInAsync([], dataDirectory, false, testToken: true, extra, command: ["standby", "--to"]);

    /// <summary>Starts <c>blueback mount --cache DIR</c> (a server too: same output, same readiness line), reading with
    /// the test run's token.</summary>
    public static Task<ServerProcess> StartMountAsync(string cacheDirectory, params string[] extra) =>
        StartInAsync([], cacheDirectory, false, testToken: false, [.. extra, "--token-file", TestToken.File], command: ["mount", "--cache"]);

    private static async Task<ServerProcess> StartInAsync(string[] wrapper, string dataDirectory, bool unixSocket, bool testToken, string[] extra, string[]? command = null)
    {
        var socket = unixSocket ? Path.Combine(dataDirectory + "-sock", "blueback.sock") : null;
        if (socket is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(socket)!);
        }
        var args = new List<string> { Cli };
        args.AddRange(command ?? ["serve", "--data"]);
        args.AddRange([dataDirectory, "--listen", "http://127.0.0.1:0"]);
        if (socket is not null)
        {
            args.AddRange(["--unix", socket]);
        }
        args.AddRange(extra);
        if (testToken && !extra.Contains("--admin-token-file"))
        {
            args.AddRange(["--admin-token-file", TestToken.File]);
        }
        var psi = wrapper.Length == 0
            ? new ProcessStartInfo("dotnet", args)
            : new ProcessStartInfo(wrapper[0], [.. wrapper[1..], "dotnet", .. args]);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        var p = Process.Start(psi)!;
        var server = new ServerProcess(p, dataDirectory, socket);
        p.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var ready = await Task.WhenAny(server._ready.Task, Task.Delay(TimeSpan.FromSeconds(60)), p.WaitForExitAsync());
        if (ready != server._ready.Task)
        {
            server.Kill();
            throw new InvalidOperationException($"blueback serve did not become ready. Output:\n{server.Output}");
        }
        return server;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
        if (line.StartsWith("Listening on http", StringComparison.Ordinal))
        {
            var url = line["Listening on ".Length..];
            Urls.Add(url);
            if (url.StartsWith("http://127.0.0.1:", StringComparison.Ordinal) || url.StartsWith("https://127.0.0.1:", StringComparison.Ordinal))
            {
                Url = url;
            }
        }
        if (line.StartsWith("Ready.", StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
    }

    /// <summary>SIGKILL: no chance to flush or mark anything clean.</summary>
    public void Kill()
    {
        if (_disposed)
        {
            return;
        }
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(30_000);
        }
    }

    /// <summary>Sends SIGTERM and waits (bounded) for the exit; returns how long it took.</summary>
    public async Task<TimeSpan> TerminateAsync(TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        _ = SendSignal(_process.Id, 15);
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"the server did not exit within {bound.TotalSeconds} s of SIGTERM. Output:\n{Output}");
        }
        _process.WaitForExit(); // drain the output readers
        return sw.Elapsed;
    }

    /// <summary>Sends a signal to the server's process (15 SIGTERM, 2 SIGINT).</summary>
    public void Signal(int signal) => _ = SendSignal(_process.Id, signal);

    /// <summary>Waits (bounded) for the exit, with the output drained.</summary>
    public async Task WaitForExitAsync(TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SendSignal(int pid, int signal);

    private bool _disposed;

    /// <summary>Kills the server if it still runs; disposing twice is harmless (a test's finally may dispose a server it
    /// already replaced, and must not hide the test's own failure).</summary>
    public void Dispose()
    {
        Kill();
        _disposed = true;
        _process.Dispose();
    }
}
