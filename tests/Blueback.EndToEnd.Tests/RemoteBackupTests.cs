using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary>Local and remote backups take one code path: from another host (a network namespace joined by a veth
/// pair) over IPv4 and IPv6, and on a host whose only interface is loopback (the Q177807 seed: the original
/// crashed there looking for socket addresses).</summary>
[Trait(Tier.Category, Tier.Slow)]
public class RemoteBackupTests
{
    private static string Worker => Path.Combine(AppContext.BaseDirectory, "Blueback.CrashWorker.dll");

    [Fact(Timeout = 300_000)]
    public async Task A_backup_from_another_network_namespace_works_over_ipv4_and_ipv6()
    {
        using var ns = NetworkNamespace.Create(linked: true);
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--listen", $"http://{ns.HostV4}:0", "--listen", $"http://[{ns.HostV6}]:0", "--insecure-listen");
        using (var c = new BluebackClient(server.Url))
        {
            await BackupApiTests.FillAsync(c);
        }
        var v4 = server.Urls.Single(u => u.Contains(ns.HostV4, StringComparison.Ordinal));
        var v6 = server.Urls.Single(u => u.Contains(ns.HostV6, StringComparison.Ordinal));
        foreach (var url in new[] { v4, v6 })
        {
            var output = NetworkNamespace.Run("ip", [.. ns.Exec[1..], "dotnet", Worker, "backup-full", url]);
            Assert.StartsWith("OK ", output.Trim(), StringComparison.Ordinal);
            Assert.True(long.Parse(output.Trim()[3..], System.Globalization.CultureInfo.InvariantCulture) > 24_000_000, output);
        }
        using var local = new BluebackClient(server.Url);
        var status = await local.StatusAsync();
        Assert.True(status.Instances[0].Databases[0].LastBackups.ContainsKey("full"));
    }

    [Fact(Timeout = 300_000)]
    public async Task A_local_backup_works_on_a_host_whose_only_interface_is_loopback()
    {
        using var ns = NetworkNamespace.Create(linked: false);
        using var dir = new TempDir();
        using var server = await ServerProcess.StartInAsync(ns.Exec, dir["data"], unixSocket: true);
        foreach (var url in new[] { server.Url, "unix:" + server.UnixSocket })
        {
            var output = NetworkNamespace.Run("ip", [.. ns.Exec[1..], "dotnet", Worker, "backup-full", url]);
            Assert.StartsWith("OK ", output.Trim(), StringComparison.Ordinal);
        }
    }
}
