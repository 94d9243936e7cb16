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

    /// <summary>tests/Shared/pty_signal.py, the helper the end-to-end tests use too.</summary>
    private static readonly string Helper = Path.Combine(AppContext.BaseDirectory, "pty_signal.py");

    /// <summary>Runs <c>blueback ARGS</c>; with a signal, sends it after <paramref name="delay"/> seconds (unless the
    /// program finished first). Without one, a run longer than <paramref name="bound"/> is a hang.</summary>
    public static Outcome Run(string signal, double delay, TimeSpan bound, params string[] args) => RunDll(Cli, signal, delay, bound, args);

    /// <summary>A command as its exit times are counted: a group's subcommand with its group ("repo gc").</summary>
    private static string Name(string[] args) => args is ["repo" or "db" or "token" or "policy" or "standby", var sub, ..] ? $"{args[0]} {sub}" : args[0];

    /// <summary>As <see cref="Run"/>, for another program (<see cref="StopFloor"/>'s child).</summary>
    public static Outcome RunDll(string dll, string signal, double delay, TimeSpan bound, params string[] args)
    {
        var psi = new ProcessStartInfo("python3", [Helper, signal, delay.ToString("0.000", CultureInfo.InvariantCulture), bound.TotalSeconds.ToString("0", CultureInfo.InvariantCulture), "dotnet", dll, .. args])
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
            return new Outcome(Name(args), signal, false, -1, 0, true, "the pty helper itself hung");
        }
        var parts = line.Split(' ');
        if (parts.Length != 3)
        {
            return new Outcome(Name(args), signal, false, -1, 0, true, $"pty helper said '{line}': {err.Result}");
        }
        return new Outcome(Name(args), signal, parts[0] == "interrupted", int.Parse(parts[1], CultureInfo.InvariantCulture),
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
