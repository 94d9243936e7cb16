using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using Amazon.S3.Model;

namespace Blueback.EndToEnd.Tests;

/// <summary>An in-memory S3 server (moto, <c>moto_server -H 127.0.0.1 -p PORT</c>) for one test: started on a free
/// port, a bucket created, stopped (killed: it keeps nothing) at the end. The AWS credentials it accepts are set in
/// this process's environment, which the CLI processes the tests start inherit.</summary>
public sealed class MotoServer : IDisposable
{
    private readonly Process _process;

    private MotoServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";
    public const string Bucket = "blueback-test";

    public static async Task<MotoServer> StartAsync()
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "test");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "test");
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
        int port = FreePort();
        var server = new MotoServer(Launch(port), port);
        await server.WaitReadyAsync();
        using var client = server.Client();
        await client.PutBucketAsync(Bucket);
        return server;
    }

    private static Process Launch(int port)
    {
        try
        {
            return Process.Start(new ProcessStartInfo("moto_server", ["-H", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("moto_server is not installed: the S3 tests need it (pip install 'moto[server]==5.2.1'; .ci/run installs it).", ex);
        }
    }

    private async Task WaitReadyAsync()
    {
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var r = await http.GetAsync(Endpoint);
                if (r.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
            Assert.False(_process.HasExited, "moto_server exited at start");
            Assert.True(DateTime.UtcNow < until, "moto_server did not answer within 30 s");
            await Task.Delay(100);
        }
    }

    public AmazonS3Client Client() => new(new AmazonS3Config { ServiceURL = Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 });

    /// <summary>The network failing mid-transfer: the server is gone (and, being in memory, so is its data).</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
