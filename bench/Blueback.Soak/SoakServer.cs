using System.Diagnostics;

namespace Blueback.Soak;

/// <summary>The server under test: <c>blueback serve</c> on a loopback port, started again after each kill.</summary>
internal sealed class SoakServer(string data, string tokenFile, int port) : IDisposable
{
    private Process? _process;

    public string Url => $"http://127.0.0.1:{port}";

    public int? Pid => _process?.Id;

    /// <summary>Exits the server had that nobody asked for (a crash).</summary>
    public int Crashes { get; private set; }

    /// <summary>Starts the server, with <paramref name="config"/> when given (a failure drill's), else the defaults.</summary>
    public void Start(string? config = null)
    {
        string[] withConfig = config is null ? [] : ["--config", config];
        var psi = new ProcessStartInfo("dotnet", [Programs.Cli, "serve", "--data", data, "--listen", Url, "--admin-token-file", tokenFile, .. withConfig])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(psi)!;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } l && errors.Count < 20)
            {
                errors.Enqueue(l);
            }
        };
        _process.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        for (var line = _process.StandardOutput.ReadLine(); line is not null; line = _process.StandardOutput.ReadLine())
        {
            if (line.StartsWith("Ready.", StringComparison.Ordinal))
            {
                _ = _process.StandardOutput.ReadToEndAsync(); // keep the pipe drained
                return;
            }
            if (sw.Elapsed > TimeSpan.FromSeconds(60))
            {
                break;
            }
        }
        _process.WaitForExit(5_000);
        throw new InvalidOperationException($"the server did not become ready (exit {(_process.HasExited ? _process.ExitCode : -1)}): {string.Join(" | ", errors)}");
    }

    /// <summary>Counts an exit nobody asked for; true when the server is up.</summary>
    public bool CheckAlive()
    {
        if (_process is { HasExited: true })
        {
            Crashes++;
            Start();
            return false;
        }
        return true;
    }

    /// <summary>SIGKILL or SIGTERM; returns how long the server took to exit (a hang past 30 s kills it and says so).</summary>
    public (double Ms, bool Hung) Stop(bool kill)
    {
        var p = _process!;
        var sw = Stopwatch.StartNew();
        if (kill)
        {
            p.Kill();
        }
        else
        {
            Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        }
        bool exited = p.WaitForExit(30_000);
        if (!exited)
        {
            p.Kill();
            p.WaitForExit();
        }
        _process = null;
        return (sw.Elapsed.TotalMilliseconds, !exited);
    }

    public void Dispose()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit(10_000);
        }
    }
}
