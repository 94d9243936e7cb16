using System.Diagnostics;

namespace Blueback.Bench;

/// <summary>Runs a program to its end and returns what it printed; a non-zero exit throws with its error output.</summary>
internal static class Shell
{
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}{output}");
        }
        return output;
    }

    /// <summary>The blueback CLI this harness was built with.</summary>
    public static string Blueback(params string[] args) => Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "blueback.dll"), .. args]);
}
