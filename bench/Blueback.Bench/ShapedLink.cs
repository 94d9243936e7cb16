using System.Globalization;

namespace Blueback.Bench;

/// <summary>A second host on a real-looking network: a network namespace joined to this one by a veth pair whose both
/// ends are shaped with tc's token bucket (e.g. 1gbit). Loopback is free; the network users have is not.</summary>
internal sealed class ShapedLink : IDisposable
{
    private readonly string _hostVeth;

    private ShapedLink(string name, int subnet)
    {
        Name = name;
        Subnet = subnet;
        _hostVeth = $"bbw{subnet}h";
    }

    public string Name { get; }
    public int Subnet { get; }
    public string HostAddress => string.Create(CultureInfo.InvariantCulture, $"10.214.{Subnet}.1");
    public string Network => string.Create(CultureInfo.InvariantCulture, $"10.214.{Subnet}.0/24");

    /// <summary>The command line that runs <paramref name="args"/> on the other host.</summary>
    public string[] On(params string[] args) => ["netns", "exec", Name, .. args];

    public static ShapedLink Create(string rate)
    {
        int subnet = 1 + Environment.ProcessId % 200;
        var link = new ShapedLink($"bbwire-{Environment.ProcessId}", subnet);
        var guest = $"bbw{subnet}g";
        Shell.Run("ip", "netns", "add", link.Name);
        try
        {
            Shell.Run("ip", "netns", "exec", link.Name, "ip", "link", "set", "lo", "up");
            Shell.Run("ip", "link", "add", link._hostVeth, "type", "veth", "peer", "name", guest);
            Shell.Run("ip", "link", "set", guest, "netns", link.Name);
            Shell.Run("ip", "addr", "add", $"{link.HostAddress}/24", "dev", link._hostVeth);
            Shell.Run("ip", "link", "set", link._hostVeth, "up");
            Shell.Run("ip", "netns", "exec", link.Name, "ip", "addr", "add", string.Create(CultureInfo.InvariantCulture, $"10.214.{subnet}.2/24"), "dev", guest);
            Shell.Run("ip", "netns", "exec", link.Name, "ip", "link", "set", guest, "up");
            Shell.Run("tc", "qdisc", "add", "dev", link._hostVeth, "root", "tbf", "rate", rate, "burst", "1mb", "latency", "50ms");
            Shell.Run("ip", "netns", "exec", link.Name, "tc", "qdisc", "add", "dev", guest, "root", "tbf", "rate", rate, "burst", "1mb", "latency", "50ms");
            return link;
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            Shell.Run("ip", "link", "del", _hostVeth);
        }
        catch (InvalidOperationException)
        {
            // gone with the namespace
        }
        Shell.Run("ip", "netns", "del", Name);
    }
}
