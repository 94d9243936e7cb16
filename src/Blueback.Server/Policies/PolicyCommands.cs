using System.Globalization;
using Blueback.Protocol;
using Blueback.Repository.Stores;

namespace Blueback.Server.Policies;

/// <summary>The <c>blueback</c> command lines a policy's jobs run (their <c>--json</c> output is read as the typed
/// records of <see cref="Protocol.Programs"/>).</summary>
internal static class PolicyCommands
{
    public static List<string> Repository(PolicyDefinition p) => Repository(p.Repository);

    /// <summary>The options naming a repository; <paramref name="side"/> is "" or, for 'repo copy', "from-" or "to-".</summary>
    public static List<string> Repository(PolicyRepository repository, string side = "")
    {
        var args = new List<string> { side.Length == 0 ? "--repo" : $"--{side.TrimEnd('-')}", repository.Location };
        if (repository.S3Endpoint is { } e)
        {
            args.AddRange([$"--{side}s3-endpoint", e]);
        }
        if (repository.S3Region is { } r)
        {
            args.AddRange([$"--{side}s3-region", r]);
        }
        if (repository.KeyFile is { } k)
        {
            args.AddRange([$"--{side}key-file", k]);
        }
        if (side.Length == 0)
        {
            // The service's quirks (docs/repository.md); 'repo copy' takes one set of them, from its --repo side's options.
            if (repository.S3PathStyle is { } pathStyle)
            {
                args.AddRange(["--s3-path-style", pathStyle ? "true" : "false"]);
            }
            if (repository.S3Checksums is { } checksums)
            {
                args.AddRange(["--s3-checksums", checksums]);
            }
            if (repository.S3PartSize is { } partSize)
            {
                args.AddRange(["--s3-part-size", partSize]);
            }
        }
        return args;
    }

    /// <summary>The S3 settings of a policy's repository, for the server's own reads of it.</summary>
    public static S3Settings S3(PolicyRepository repository) =>
        new(repository.S3Endpoint, repository.S3Region, repository.S3PathStyle, repository.S3Checksums, repository.S3PartSize);

    public static List<string> Init(PolicyRepository repository)
    {
        // 'repo init' takes the location as its argument, the rest as options.
        var rest = Repository(repository).Skip(2).ToList();
        var args = new List<string> { "repo", "init", repository.Location };
        args.AddRange(rest);
        if (repository.KeyFile is not null || Environment.GetEnvironmentVariable("BLUEBACK_REPO_PASSWORD") is not null)
        {
            args.Add("--encrypt");
        }
        return args;
    }

    /// <summary>Every set and shipped generation of the policy's repository that its second one lacks.</summary>
    public static List<string> Copy(PolicyDefinition p) =>
        ["repo", "copy", "--all", "--json", .. Repository(p.Repository, "from-"), .. Repository(p.CopyTo!, "to-")];

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
        if (p.SkipUnchanged && kind == PolicyJobKind.Full)
        {
            args.AddRange(["--skip-unchanged", "--read-all-after", p.ReadAllAfter ?? PolicyDefinition.DefaultReadAllAfter]);
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
