using System.Globalization;
using Blueback.Protocol;

namespace Blueback.Server.Policies;

/// <summary>The <c>blueback</c> command lines a policy's jobs run (their <c>--json</c> output is read as the typed
/// records of <see cref="Protocol.Programs"/>).</summary>
internal static class PolicyCommands
{
    public static List<string> Repository(PolicyDefinition p)
    {
        var args = new List<string> { "--repo", p.Repository.Location };
        if (p.Repository.S3Endpoint is { } e)
        {
            args.AddRange(["--s3-endpoint", e]);
        }
        if (p.Repository.S3Region is { } r)
        {
            args.AddRange(["--s3-region", r]);
        }
        if (p.Repository.KeyFile is { } k)
        {
            args.AddRange(["--key-file", k]);
        }
        return args;
    }

    public static List<string> Init(PolicyDefinition p)
    {
        // 'repo init' takes the location as its argument, the rest as options.
        var rest = Repository(p).Skip(2).ToList();
        var args = new List<string> { "repo", "init", p.Repository.Location };
        args.AddRange(rest);
        if (p.Repository.KeyFile is not null || Environment.GetEnvironmentVariable("BLUEBACK_REPO_PASSWORD") is not null)
        {
            args.Add("--encrypt");
        }
        return args;
    }

    public static List<string> Gc(PolicyDefinition p) => ["repo", "gc", .. Repository(p)];

    public static List<string> Verify(PolicyDefinition p, string set) => ["verify", "--set", set, .. Repository(p)];

    /// <summary>The instance a restore of <paramref name="set"/> makes: its own and the set's short id, so that it never
    /// collides with the live one, nor with a restore of another set.</summary>
    public static string RestoredName(PolicyDefinition p, string set) => $"{p.Instance}-{Blueback.Repository.SetIds.Short(set)}";

    public static List<string> RestoreAsNew(PolicyDefinition p, string set, string server) =>
        ["restore", "--server", server, "--set", set, "--as", RestoredName(p, set), .. Repository(p)];

    public static List<string> Backup(PolicyDefinition p, PolicyJobKind kind, string server)
    {
        var args = new List<string> { "backup", "--server", server, "--instance", p.Instance, "--type", kind.WireName(), "--json" };
        if (p.ChangedPages && kind != PolicyJobKind.Full)
        {
            args.Add("--changed-pages");
        }
        if (p.Digest)
        {
            args.Add("--digest");
        }
        args.AddRange(Repository(p));
        return args;
    }

    public static List<string> Prove(PolicyDefinition p, string set, string scratch)
    {
        var args = new List<string> { "prove", "--set", set, "--scratch", scratch, "--json" };
        if (p.Prove.MaxScratchMB is { } mb)
        {
            args.AddRange(["--max-scratch-mb", mb.ToString(CultureInfo.InvariantCulture)]);
        }
        args.AddRange(Repository(p));
        return args;
    }

    public static List<string> Forget(PolicyDefinition p)
    {
        var r = p.Retention!;
        var args = new List<string> { "forget", "--instance", p.Instance, "--json" };
        void Add(string option, int? n)
        {
            if (n is { } v)
            {
                args.AddRange([option, v.ToString(CultureInfo.InvariantCulture)]);
            }
        }
        Add("--keep-last", r.KeepLast);
        Add("--keep-daily", r.KeepDaily);
        Add("--keep-weekly", r.KeepWeekly);
        Add("--keep-monthly", r.KeepMonthly);
        if (r.KeepWithin is { } w)
        {
            args.AddRange(["--keep-within", w]);
        }
        args.AddRange(Repository(p));
        return args;
    }

    public static List<string> Ship(PolicyDefinition p, string server)
    {
        var args = new List<string> { "ship", "--server", server, "--instance", p.Instance, "--quiet" };
        if (p.ShippingMaxLag is { } lag)
        {
            args.AddRange(["--max-lag", lag]);
        }
        args.AddRange(Repository(p));
        return args;
    }
}
