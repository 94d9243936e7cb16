using System.Diagnostics;

namespace Blueback.Bench;

/// <summary>A blueback process that listens (serve, standby): started on a free port with the bench's admin token,
/// returned once it says it is ready.</summary>
internal static class BenchProcess
{
    private static string Cli => Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    public static (Process Process, string Url) Start(string[] args) => Start(null, args);

    /// <summary>The same with another blueback executable (an installed one) instead of the bench's own build.</summary>
    public static (Process Process, string Url) Start(string? executable, string[] args)
    {
        var psi = executable is null
            ? new ProcessStartInfo("dotnet", [Cli, .. args, "--listen", "http://127.0.0.1:0", "--admin-token-file", BenchToken.File])
            : new ProcessStartInfo(executable, [.. args, "--listen", "http://127.0.0.1:0", "--admin-token-file", BenchToken.File]);
        psi.RedirectStandardOutput = true;
        psi.UseShellExecute = false;
        var p = Process.Start(psi)!;
        string? url = null;
        for (var line = p.StandardOutput.ReadLine(); line is not null; line = p.StandardOutput.ReadLine())
        {
            if (line.StartsWith("Listening on ", StringComparison.Ordinal))
            {
                url = line["Listening on ".Length..];
            }
            if (line.StartsWith("Ready.", StringComparison.Ordinal))
            {
                break;
            }
        }
        _ = p.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        return (p, url ?? throw new InvalidOperationException($"blueback {args[0]} did not start"));
    }
}
