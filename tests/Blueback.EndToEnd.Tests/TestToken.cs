using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Blueback.Client;
using Blueback.Server.Security;

namespace Blueback.EndToEnd.Tests;

/// <summary>One admin token for every server this test run starts (each is given it with --admin-token-file on
/// its first start), set in BLUEBACK_TOKEN so that clients and the CLI processes the tests start use it.</summary>
internal static class TestToken
{
    public static string Value { get; } = TokenStore.NewToken();
    public static string File { get; } = Path.Combine(Path.GetTempPath(), $"bb-test-admin-{Environment.ProcessId}.token");

    [ModuleInitializer]
    internal static void Init()
    {
        System.IO.File.WriteAllText(File, Value);
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(File, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        Environment.SetEnvironmentVariable(BluebackClient.TokenVariable, Value);
    }

    /// <summary>A plain HttpClient that sends the token.</summary>
    public static HttpClient Http(string baseUrl, TimeSpan? timeout = null)
    {
        var http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = timeout ?? TimeSpan.FromSeconds(100) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Value);
        return http;
    }
}
