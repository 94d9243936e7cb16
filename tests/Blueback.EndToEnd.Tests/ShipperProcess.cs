using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Blueback.EndToEnd.Tests;

/// <summary>A <c>blueback ship</c> process as an operator runs it: its output kept, stopped by SIGTERM (timed) or
/// killed outright.</summary>
public sealed partial class ShipperProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _err = new();

    private ShipperProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(_out, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_err, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static ShipperProcess Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "ship", .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        return new ShipperProcess(Process.Start(psi)!);
    }

    public string Out
    {
        get
        {
            lock (_out)
            {
                return _out.ToString();
            }
        }
    }

    public string Err
    {
        get
        {
            lock (_err)
            {
                return _err.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Waits (bounded) until the shipper has shipped at least one generation.</summary>
    public async Task WaitShippingAsync(TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        while (!Out.Contains("shipped generation", StringComparison.Ordinal))
        {
            if (_process.HasExited)
            {
                _process.WaitForExit();
                Assert.Fail($"blueback ship exited ({_process.ExitCode}):\n{Out}\n{Err}");
            }
            Assert.True(sw.Elapsed < bound, $"blueback ship shipped nothing within {bound.TotalSeconds} s:\n{Out}\n{Err}");
            await Task.Delay(100);
        }
    }

    public async Task<(int Exit, TimeSpan Took)> TerminateAsync(TimeSpan bound)
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
            Assert.Fail($"blueback ship did not exit within {bound.TotalSeconds} s of SIGTERM:\n{Err}");
        }
        _process.WaitForExit();
        return (_process.ExitCode, sw.Elapsed);
    }

    /// <summary>SIGTERM, and the graceful stop's exit (130) within <paramref name="bound"/>; any other exit fails
    /// with what the shipper printed, which names the cause.</summary>
    public async Task AssertStopsAsync(TimeSpan bound)
    {
        var (exit, _) = await TerminateAsync(bound);
        Assert.True(exit == 130, $"blueback ship exited {exit} after SIGTERM, not 130:\n{Out}\n{Err}");
    }

    public async Task<int> WaitExitAsync(TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(30_000);
        }
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is not null)
        {
            lock (sb)
            {
                sb.AppendLine(line);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int SendSignal(int pid, int signal);

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
