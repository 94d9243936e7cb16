using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Blueback.Server.Policies;

/// <summary>What a child program did: its exit code and what it printed.</summary>
internal sealed record ChildResult(int Exit, string Out, string Err, bool Stopped)
{
    /// <summary>The last line on standard error (where the program says what failed), or the exit code.</summary>
    public string Reason => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => !l.StartsWith('\r')) ?? $"exit code {Exit}";
}

/// <summary>Runs the <c>blueback</c> program itself as a child process: a policy's backups, proofs and retention take the
/// very code path an operator's commands take, each in a process that runs at its own priority, that a stop reaches as
/// a graceful stop (SIGTERM, which the program takes as it takes a Ctrl+C: it removes its partial set and exits; SIGINT
/// may be inherited as ignored where the server itself was started in the background), and that a kill cannot leave half-done in the server.</summary>
internal static partial class ChildProgram
{
    /// <summary>How long a child has after SIGTERM before it is killed.</summary>
    public static readonly TimeSpan StopBound = TimeSpan.FromSeconds(5);

    /// <summary>The command that starts this program: the apphost, or <c>dotnet blueback.dll</c>.</summary>
    public static string[] Command(string? configured)
    {
        if (configured is not null)
        {
            return [configured];
        }
        var exe = Environment.ProcessPath ?? "dotnet";
        var entry = Assembly.GetEntryAssembly()?.Location;
        return Path.GetFileNameWithoutExtension(exe) == "dotnet" && entry is { Length: > 0 } ? [exe, entry] : [exe];
    }

    /// <summary>While the server is busy, a throttled child runs this long in each <see cref="Cycle"/> and is stopped
    /// (SIGSTOP) the rest: what the scheduler's priorities cannot give on a small machine (a proof at nice 19 in the
    /// idle class still cost 16 durable writers a quarter of their rate on two cores; slices of 50 ms kept them at
    /// 0.91-0.95, of 30 ms at 0.96: docs/benchmarks.md).</summary>
    public static readonly TimeSpan BusySlice = TimeSpan.FromMilliseconds(30);
    public static readonly TimeSpan Cycle = TimeSpan.FromSeconds(1);

    public static async Task<ChildResult> RunAsync(string[] command, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, TimeSpan bound, Action<int>? started, CancellationToken ct, Func<bool>? busy = null)
    {
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in command.Skip(1).Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in environment)
        {
            psi.Environment[k] = v;
        }
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start '{command[0]}'");
        p.StandardInput.Close();
        started?.Invoke(p.Id);
        var stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        bool stopped = false;
        using var timeout = new CancellationTokenSource(bound);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        using var exited = CancellationTokenSource.CreateLinkedTokenSource(both.Token);
        var throttle = busy is null ? Task.CompletedTask : ThrottleAsync(p.Id, busy, exited.Token);
        try
        {
            await p.WaitForExitAsync(both.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            stopped = true;
            Interrupt(p.Id);
            using var grace = new CancellationTokenSource(StopBound);
            try
            {
                await p.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync(CancellationToken.None).WaitAsync(StopBound, CancellationToken.None).ConfigureAwait(false);
            }
        }
        await exited.CancelAsync().ConfigureAwait(false);
        await throttle.ConfigureAwait(false);
        var output = await stdout.WaitAsync(StopBound, CancellationToken.None).ConfigureAwait(false);
        var error = await stderr.WaitAsync(StopBound, CancellationToken.None).ConfigureAwait(false);
        if (stopped && timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            error += $"\nstopped after its bound of {bound}";
        }
        return new ChildResult(p.ExitCode, output, error, stopped);
    }

    /// <summary>The program's graceful stop (removes a partial set, aborts its session), as for a Ctrl+C; continued first
    /// if the throttle had it stopped.</summary>
    private static void Interrupt(int pid)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            _ = Kill(pid, Signals.Term);
            _ = Kill(pid, Signals.Cont);
        }
    }

    /// <summary>The signal numbers kill(2) takes here: SIGTERM is 15 everywhere, SIGSTOP and SIGCONT are not (Linux
    /// 19 and 18; macOS and the BSDs 17 and 19).</summary>
    private static class Signals
    {
        public const int Term = 15;
        public static readonly int Stop = OperatingSystem.IsLinux() ? 19 : 17;
        public static readonly int Cont = OperatingSystem.IsLinux() ? 18 : 19;
    }

    /// <summary>While <paramref name="busy"/> says the server's clients are at work, lets the child run one slice per
    /// cycle; when they are not, lets it run. Always leaves it running.</summary>
    private static async Task ThrottleAsync(int pid, Func<bool> busy, CancellationToken ct)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var tick = TimeSpan.FromMilliseconds(50);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!busy())
                {
                    await Task.Delay(tick, ct).ConfigureAwait(false);
                    continue;
                }
                await Task.Delay(BusySlice, ct).ConfigureAwait(false); // the slice it runs
                _ = Kill(pid, Signals.Stop);
                for (var waited = TimeSpan.Zero; waited < Cycle - BusySlice && busy(); waited += tick)
                {
                    await Task.Delay(tick, ct).ConfigureAwait(false);
                }
                _ = Kill(pid, Signals.Cont);
            }
        }
        catch (OperationCanceledException)
        {
            // the child ended or is being stopped
        }
        finally
        {
            _ = Kill(pid, Signals.Cont);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
