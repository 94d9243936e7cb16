using System.Diagnostics;
using System.Globalization;

namespace Blueback.EndToEnd.Tests;

/// <summary>What tests/Shared/pty_signal.py saw: how the program ended (finished-before, interrupted, hung), its exit
/// code, the time from the signal to its exit, and its terminal output.</summary>
internal sealed record PtyOutcome(string Outcome, int Exit, double Ms, string Output)
{
    public override string ToString() => $"{Outcome} {Exit} {Ms:0} ms: {Output}";
}

/// <summary>Runs a program in a pseudo-terminal and signals it as a user would (^C through the terminal, SIGTERM,
/// SIGKILL), through the helper the soak uses too.</summary>
internal static class PtySignal
{
    private static readonly string Helper = Path.Combine(AppContext.BaseDirectory, "pty_signal.py");

    /// <summary>Runs <paramref name="argv"/>, sends <paramref name="signal"/> (INT, TERM, KILL) <paramref name="delay"/>
    /// seconds after it owns its terminal; a program not ended 10 s after the signal is killed and reported hung.</summary>
    public static async Task<PtyOutcome> RunAsync(string signal, double delay, params string[] argv)
    {
        var psi = new ProcessStartInfo("python3", [Helper, signal, delay.ToString("0.000", CultureInfo.InvariantCulture), "600", .. argv])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var output = p.StandardError.ReadToEndAsync();
        var line = (await p.StandardOutput.ReadToEndAsync()).Trim();
        Assert.True(p.WaitForExit(30_000), "the pty helper hung");
        var parts = line.Split(' ');
        Assert.True(parts.Length == 3, $"pty helper said '{line}': {await output}");
        return new PtyOutcome(parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture), await output);
    }
}
