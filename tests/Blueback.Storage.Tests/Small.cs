namespace Blueback.Storage.Tests;

/// <summary>A small instance for quick tests, and UTF-8 helpers.</summary>
internal static class Small
{
    public static readonly InstanceOptions Options = new()
    {
        LogGenerationSize = 256 << 10,
        CacheSize = 16L << 20,
        WaitTimeout = TimeSpan.FromSeconds(30),
    };

    public static byte[] B(string s) => System.Text.Encoding.UTF8.GetBytes(s);
    public static string S(byte[] b) => System.Text.Encoding.UTF8.GetString(b);
}
