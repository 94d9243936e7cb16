using System.Diagnostics;
using System.Globalization;

namespace Blueback.Soak;

/// <summary>What one run of a client command did: the signal it got (none, INT as a terminal's ^C, TERM, KILL) and
/// when, its exit code, how long it took to exit after the signal, and whether it outlived its bound.</summary>
internal sealed record Outcome(string Command, string Signal, bool Landed, int Exit, double MsAfterSignal, bool Hung, string Output)
{
    /// <summary>Seconds after the start that the signal was sent.</summary>
    public double Delay { get; init; }
}

/// <summary>Runs the blueback CLI as a user would: in a pseudo-terminal (so ^C reaches it as from a terminal, whatever
/// this harness's own signal dispositions), optionally signalled at a moment; bounded.</summary>
internal static class Programs
{
    /// <summary>A signal sent this soon after the start may find the runtime still starting, before the program's
    /// handlers are in: the signal's default then ends it (-2, -15) before anything began. Later, that is a fault.</summary>
    public const double StartUpSeconds = 1.0;

    public static readonly string Cli = Environment.GetEnvironmentVariable("BLUEBACK_SOAK_CLI") ?? Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    private const string Helper = """
        import os, pty, sys, time, select, signal
        sig = sys.argv[1]; delay = float(sys.argv[2]); bound = float(sys.argv[3]); argv = sys.argv[4:]
        # A terminal's shell runs its commands with ^C's default: a harness started with & (whose shell ignores
        # SIGINT in it) would otherwise pass the ignore on, and the program would never see the ^C. Set around the fork,
        # not in the child: there Python's own handler held until the child reset it and would swallow a ^C.
        old = (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGQUIT, signal.SIG_DFL))
        pid, fd = pty.fork()
        if pid == 0:
            os.execvp(argv[0], argv)
        signal.signal(signal.SIGINT, old[0]); signal.signal(signal.SIGQUIT, old[1])
        # The clock starts once the child owns the terminal: a ^C written before is dropped by the terminal (no
        # foreground process yet), and on a loaded machine the child took that long (a verify ^C was lost so).
        owned = time.monotonic() + 10
        while time.monotonic() < owned:
            try:
                if os.tcgetpgrp(fd) == pid:
                    break
            except OSError:
                pass
            time.sleep(0.0005)
        out = bytearray()
        def drain(until):
            while time.monotonic() < until:
                r, _, _ = select.select([fd], [], [], 0.01)
                if r:
                    try:
                        out.extend(os.read(fd, 65536))
                    except OSError:
                        time.sleep(0.005)
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return status
            return None
        status = drain(time.monotonic() + (delay if sig != "none" else bound))
        if status is not None:
            print("finished-before", os.waitstatus_to_exitcode(status), 0)
        elif sig == "none":
            os.kill(pid, 9); os.waitpid(pid, 0); print("hung", -1, 0)
        else:
            t0 = time.monotonic()
            if sig == "INT":
                os.write(fd, b"\x03")
            else:
                os.kill(pid, signal.SIGTERM if sig == "TERM" else signal.SIGKILL)
            status = drain(t0 + 10)
            ms = (time.monotonic() - t0) * 1000
            if status is None:
                os.kill(pid, 9); os.waitpid(pid, 0); print("hung", -1, round(ms, 1))
            else:
                print("interrupted", os.waitstatus_to_exitcode(status), round(ms, 1))
        sys.stdout.flush()
        sys.stderr.write(out.decode(errors="replace")[-2000:])
        """;

    private static readonly Lazy<string> HelperPath = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"bb-soak-pty-{Environment.ProcessId}.py");
        File.WriteAllText(path, Helper);
        return path;
    });

    /// <summary>Runs <c>blueback ARGS</c>; with a signal, sends it after <paramref name="delay"/> seconds (unless the
    /// program finished first). Without one, a run longer than <paramref name="bound"/> is a hang.</summary>
    public static Outcome Run(string signal, double delay, TimeSpan bound, params string[] args) => RunDll(Cli, signal, delay, bound, args);

    /// <summary>As <see cref="Run"/>, for another program (<see cref="StopFloor"/>'s child).</summary>
    public static Outcome RunDll(string dll, string signal, double delay, TimeSpan bound, params string[] args)
    {
        var psi = new ProcessStartInfo("python3", [HelperPath.Value, signal, delay.ToString("0.000", CultureInfo.InvariantCulture), bound.TotalSeconds.ToString("0", CultureInfo.InvariantCulture), "dotnet", dll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var line = p.StandardOutput.ReadToEnd().Trim();
        if (!p.WaitForExit((int)(bound.TotalMilliseconds + 30_000)))
        {
            p.Kill(entireProcessTree: true);
            return new Outcome(args[0], signal, false, -1, 0, true, "the pty helper itself hung");
        }
        var parts = line.Split(' ');
        if (parts.Length != 3)
        {
            return new Outcome(args[0], signal, false, -1, 0, true, $"pty helper said '{line}': {err.Result}");
        }
        return new Outcome(args[0], signal, parts[0] == "interrupted", int.Parse(parts[1], CultureInfo.InvariantCulture),
            double.Parse(parts[2], CultureInfo.InvariantCulture), parts[0] == "hung", Terminal.Plain(err.Result)) { Delay = delay };
    }
}

/// <summary>A terminal's output as text: the escape sequences the runtime writes to a terminal removed.</summary>
internal static partial class Terminal
{
    public static string Plain(string output) => Escapes().Replace(output, "");

    [System.Text.RegularExpressions.GeneratedRegex(@"\x1b(\[[0-9;?]*[A-Za-z]|[=>])")]
    private static partial System.Text.RegularExpressions.Regex Escapes();
}
