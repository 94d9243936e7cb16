using System.Diagnostics;

namespace Blueback.EndToEnd.Tests;

/// <summary>A test host of our own: a network namespace, optionally joined to this one by a veth pair with IPv4
/// and IPv6 addresses that exist only inside the namespaces the test makes (and removes).</summary>
public sealed class NetworkNamespace : IDisposable
{
    private static int _counter;

    private NetworkNamespace(string name, int subnet, bool linked)
    {
        Name = name;
        Subnet = subnet;
        Linked = linked;
    }

    public string Name { get; }
    public int Subnet { get; }
    public bool Linked { get; }
    public string HostV4 => $"10.213.{Subnet}.1";
    public string GuestV4 => $"10.213.{Subnet}.2";
    public string HostV6 => $"fd00:bb:{Subnet}::1";
    public string[] Exec => ["ip", "netns", "exec", Name];
    private string HostVeth => $"bbh{Subnet}x{Environment.ProcessId % 10000}";
    private string GuestVeth => $"bbg{Subnet}x{Environment.ProcessId % 10000}";

    /// <summary>A namespace whose only interface is loopback (up), or one linked to this namespace.</summary>
    public static NetworkNamespace Create(bool linked)
    {
        int subnet = 10 + (Interlocked.Increment(ref _counter) % 200);
        var ns = new NetworkNamespace($"bbtest-{Environment.ProcessId}-{subnet}", subnet, linked);
        try
        {
            Run("ip", "netns", "add", ns.Name);
            Run("ip", "netns", "exec", ns.Name, "ip", "link", "set", "lo", "up");
            if (linked)
            {
                Run("ip", "link", "add", ns.HostVeth, "type", "veth", "peer", "name", ns.GuestVeth);
                Run("ip", "link", "set", ns.GuestVeth, "netns", ns.Name);
                Run("ip", "addr", "add", $"{ns.HostV4}/24", "dev", ns.HostVeth);
                Run("ip", "-6", "addr", "add", $"{ns.HostV6}/64", "dev", ns.HostVeth, "nodad");
                Run("ip", "link", "set", ns.HostVeth, "up");
                Run("ip", "netns", "exec", ns.Name, "ip", "addr", "add", $"{ns.GuestV4}/24", "dev", ns.GuestVeth);
                Run("ip", "netns", "exec", ns.Name, "ip", "-6", "addr", "add", $"fd00:bb:{subnet}::2/64", "dev", ns.GuestVeth, "nodad");
                Run("ip", "netns", "exec", ns.Name, "ip", "link", "set", ns.GuestVeth, "up");
            }
            return ns;
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Shapes the link both ways to <paramref name="rate"/> (tc's token bucket: "1gbit"), as a network a
    /// backup program on another host meets; loopback's is free.</summary>
    public void Shape(string rate)
    {
        Run("tc", "qdisc", "add", "dev", HostVeth, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "20ms");
        Run("ip", "netns", "exec", Name, "tc", "qdisc", "add", "dev", GuestVeth, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "20ms");
    }

    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within 120 s");
        }
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {error.Result}{output.Result}");
        }
        return output.Result;
    }

    public void Dispose()
    {
        try
        {
            if (Linked)
            {
                Run("ip", "link", "del", HostVeth);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone with the namespace.
        }
        try
        {
            Run("ip", "netns", "del", Name);
        }
        catch (InvalidOperationException)
        {
            // Never created.
        }
    }
}
