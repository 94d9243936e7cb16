using Blueback.Client;
using Blueback.Server.Security;

namespace Blueback.Bench;

/// <summary>The admin token the servers this harness starts are given (--admin-token-file), also set in
/// BLUEBACK_TOKEN for the clients and CLI processes it runs.</summary>
internal static class BenchToken
{
    private static readonly Lazy<string> PathOnce = new(() =>
    {
        var token = TokenStore.NewToken();
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"bb-bench-admin-{Environment.ProcessId}.token");
        System.IO.File.WriteAllText(path, token);
        Environment.SetEnvironmentVariable(BluebackClient.TokenVariable, token);
        return path;
    });

    public static string File => PathOnce.Value;
}
