using System.Diagnostics;

namespace Blueback.Bench;

/// <summary>A blueback process that listens (serve, standby): started on a free port with the bench's admin token,
/// returned once it says it is ready.</summary>
internal static class BenchProcess
{
    private static string Cli => Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    public static (Process Process, string Url) Start(string[] args)
    {
        var p = Process.Start(new ProcessStartInfo("dotnet", [Cli, .. args, "--listen", "http://127.0.0.1:0", "--admin-token-file", BenchToken.File]) { RedirectStandardOutput = true, UseShellExecute = false })!;
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
