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

    /// <summary>The CLI until it ends or <paramref name="ct"/> fires; then a graceful stop (SIGTERM, as a Ctrl+C) and its
    /// exit awaited. A failure that was not a stop throws.</summary>
    public static async Task BluebackAsync(CancellationToken ct, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "blueback.dll"), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync(CancellationToken.None);
        var output = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        try
        {
            await p.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            Run("kill", "-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await p.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            return;
        }
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"blueback {string.Join(' ', args)} failed ({p.ExitCode}): {await err}{await output}");
        }
    }

    /// <summary>The disk's own write rate for these files: each copied by dd with O_DIRECT (no page cache on the
    /// way out) and flushed, in bytes per second. A second reference beside cp, which on these VMs is bound by the
    /// cost of filling fresh page-cache pages rather than by the disk.</summary>
    public static double DirectCopyRate(IEnumerable<string> files, string targetDir)
    {
        Directory.CreateDirectory(targetDir);
        long bytes = 0;
        var sw = Stopwatch.StartNew();
        foreach (var f in files)
        {
            Run("dd", $"if={f}", $"of={Path.Combine(targetDir, Path.GetFileName(f))}", "bs=4M", "oflag=direct", "conv=fsync", "status=none");
            bytes += new FileInfo(f).Length;
        }
        double rate = bytes / sw.Elapsed.TotalSeconds;
        Directory.Delete(targetDir, recursive: true);
        return rate;
    }
}
