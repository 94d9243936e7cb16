using System.Diagnostics;
using System.Text.Json;

namespace Blueback.Bench;

/// <summary>The real server process driven by the real <c>blueback load</c> process, as an operator runs them.</summary>
internal static class ServerLoad
{
    private static string Cli => Path.Combine(AppContext.BaseDirectory, "blueback.dll");

    public static double Run(string dataDir, int writers, int batch, int valueSize, double seconds)
    {
        var sock = dataDir + ".sock";
        using var server = Process.Start(new ProcessStartInfo("dotnet", [Cli, "serve", "--data", dataDir, "--listen", "http://127.0.0.1:0", "--admin-token-file", BenchToken.File])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        string? url = null;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            var line = server.StandardOutput.ReadLine();
            if (line is null)
            {
                break;
            }
            if (line.StartsWith("Listening on ", StringComparison.Ordinal))
            {
                url = line["Listening on ".Length..];
            }
            if (line.StartsWith("Ready.", StringComparison.Ordinal))
            {
                break;
            }
        }
        try
        {
            if (url is null)
            {
                throw new InvalidOperationException("the server did not start");
            }
            using var load = Process.Start(new ProcessStartInfo("dotnet",
                [Cli, "load", "--server", url, "--writers", writers.ToString(System.Globalization.CultureInfo.InvariantCulture),
                 "--batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture), "--value-size", valueSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
                 "--seconds", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--warmup", "3", "--json"])
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            })!;
            var json = load.StandardOutput.ReadToEnd();
            load.WaitForExit();
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.GetProperty("opsPerSecond").GetDouble();
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            server.WaitForExit(30_000);
        }
    }
}
