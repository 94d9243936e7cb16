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
        var (p, urls) = executable is null
            ? StartListening("dotnet", [Cli, .. args], ["http://127.0.0.1:0"])
            : StartListening(executable, args, ["http://127.0.0.1:0"]);
        return (p, urls[^1]);
    }

    /// <summary><paramref name="file"/> <paramref name="args"/> listening on each of <paramref name="listens"/>: every
    /// address it reports, once it is ready; its later output is drained so that it never blocks on a full pipe.</summary>
    /// <param name="tokenOption">How the process is given the bench's token (a mount reads with it: --token-file).</param>
    public static (Process Process, List<string> Urls) StartListening(string file, string[] args, string[] listens, string tokenOption = "--admin-token-file")
    {
        var psi = new ProcessStartInfo(file, [.. args, .. listens.SelectMany(l => new[] { "--listen", l }), tokenOption, BenchToken.File])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var p = Process.Start(psi)!;
        var urls = new List<string>();
        for (var line = p.StandardOutput.ReadLine(); line is not null; line = p.StandardOutput.ReadLine())
        {
            if (line.StartsWith("Listening on ", StringComparison.Ordinal))
            {
                urls.Add(line["Listening on ".Length..]);
            }
            if (line.StartsWith("Ready.", StringComparison.Ordinal))
            {
                break;
            }
        }
        _ = p.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        return urls.Count > 0 ? (p, urls) : throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not start");
    }
}
