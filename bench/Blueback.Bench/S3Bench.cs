using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Blueback.Bench;

/// <summary>Backup and restore of the same instance to a local repository and to an S3 store (moto on loopback),
/// side by side in one run, with 1, 4 and 16 chunk transfers in flight. Each S3 run gets a fresh moto (it keeps
/// everything in memory). Figures are the commands' own: bytes and seconds from <c>--json</c>, restore timed
/// around the process (start and hard recovery included, as for the local one).</summary>
internal static class S3Bench
{
    public static void Run(string root, string data, string url)
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "bench");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "bench");
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
        Console.WriteLine("| repository | parallel | backup MB/s | restore MB/s | bytes |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        var local = Path.Combine(root, "s3bench-local");
        Measure("local directory", 4, local, [], root, url);
        foreach (int parallel in new[] { 1, 4, 16 })
        {
            int port = FreePort();
            using var moto = Process.Start(new ProcessStartInfo("moto_server", ["-H", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            moto.BeginOutputReadLine();
            moto.BeginErrorReadLine();
            try
            {
                var endpoint = $"http://127.0.0.1:{port}";
                WaitReady(endpoint);
                using (var http = new HttpClient())
                {
                    http.Send(new HttpRequestMessage(HttpMethod.Put, $"{endpoint}/bench")).EnsureSuccessStatusCode();
                }
                Measure("S3 (moto, loopback)", parallel, "s3://bench/repo", ["--s3-endpoint", endpoint], root, url);
            }
            finally
            {
                moto.Kill(entireProcessTree: true);
                moto.WaitForExit(10_000);
            }
        }
        Directory.Delete(local, recursive: true);
    }

    private static void Measure(string what, int parallel, string repo, string[] extra, string root, string url)
    {
        var p = parallel.ToString(CultureInfo.InvariantCulture);
        Shell.Blueback(["repo", "init", repo, .. extra]);
        var backup = JsonDocument.Parse(Shell.Blueback(["backup", "--server", url, "--repo", repo, "--type", "full", "--json", "--parallel", p, .. extra])).RootElement;
        long bytes = backup.GetProperty("bytes").GetInt64();
        double backupRate = bytes / backup.GetProperty("seconds").GetDouble();
        var target = Path.Combine(root, "s3bench-restored");
        var sw = Stopwatch.StartNew();
        Shell.Blueback(["restore", "--repo", repo, "--to", target, "--parallel", p, .. extra]);
        double restoreRate = bytes / sw.Elapsed.TotalSeconds;
        Directory.Delete(target, recursive: true);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {what} | {parallel} | {backupRate / 1e6:0} | {restoreRate / 1e6:0} | {bytes / 1048576.0:0} MiB |"));
    }

    internal static void WaitReady(string endpoint)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (int i = 0; i < 300; i++)
        {
            try
            {
                if (http.Send(new HttpRequestMessage(HttpMethod.Get, endpoint)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not yet listening, or too slow to answer yet (a loaded machine).
            }
            Thread.Sleep(100);
        }
        throw new InvalidOperationException($"moto did not answer at {endpoint}");
    }

    /// <summary>moto on a free loopback port, ready, with the bench's credentials set in this process's environment
    /// (which the commands it starts inherit); the caller kills it.</summary>
    internal static Process StartMoto(out string endpoint)
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "bench");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "bench");
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
        int port = FreePort();
        var moto = Process.Start(new ProcessStartInfo("moto_server", ["-H", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        moto.BeginOutputReadLine();
        moto.BeginErrorReadLine();
        endpoint = $"http://127.0.0.1:{port}";
        WaitReady(endpoint);
        return moto;
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
