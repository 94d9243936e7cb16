using System.Globalization;
using System.Text.Json;
using Blueback.Protocol;

namespace Blueback.Server.Policies;

/// <summary>The <c>blueback</c> command lines a policy's jobs run, and what their JSON output says.</summary>
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

    public static List<string> Backup(PolicyDefinition p, string kind, string server)
    {
        var args = new List<string> { "backup", "--server", server, "--instance", p.Instance, "--type", kind, "--json" };
        if (p.ChangedPages && kind != "full")
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

    public static List<string> List(PolicyDefinition p) => ["list", "--json", .. Repository(p)];

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

    /// <summary>A backup's result line: the set, its sizes and time.</summary>
    public static void ReadBackup(string output, PolicyJobInfo job)
    {
        var r = JsonDocument.Parse(output).RootElement;
        job.Set = r.GetProperty("set").GetString();
        job.Bytes = r.GetProperty("bytes").GetInt64();
        job.Stored = r.GetProperty("stored").GetInt64();
        double seconds = r.GetProperty("seconds").GetDouble();
        job.RateMBps = Math.Round(job.Bytes.Value / 1e6 / Math.Max(seconds, 0.001), 1);
    }

    /// <summary>A backup that ended (exit 2, or 130 when stopped) after its set was committed says so in its JSON
    /// (<c>committed</c>, <c>afterCommit</c>): the set is listed and restores, so the job made its point; only the
    /// log truncation (which the next backup does) is missing. False when the output says no such thing.</summary>
    public static bool ReadCommittedAfterCommit(string output, PolicyJobInfo job)
    {
        try
        {
            var r = JsonDocument.Parse(output).RootElement;
            if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("committed", out var c) || c.ValueKind != JsonValueKind.True)
            {
                return false;
            }
            job.Set = r.GetProperty("set").GetString();
            string what = r.TryGetProperty("afterCommit", out var a) ? a.GetString() ?? "" : "";
            job.Error = $"set {job.Set} was committed and is listed, but the backup {(what == "stopped" ? "was stopped after its commit" : $"failed after its commit ({what.TrimEnd('.', ' ')})")}; the server's logs were not truncated (the next backup truncates them)";
            return true;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>How many sets a <c>forget --json</c> forgot.</summary>
    public static int Forgotten(string output) =>
        JsonDocument.Parse(output).RootElement.TryGetProperty("forgotten", out var f) && f.ValueKind == JsonValueKind.Array ? f.GetArrayLength() : 0;

    /// <summary>A proof's record: whether it passed, whether the digests matched, the first problems.</summary>
    public static void ReadProof(string output, PolicyJobInfo job)
    {
        var proof = JsonDocument.Parse(output).RootElement.GetProperty("proof");
        job.ProofOk = proof.GetProperty("ok").GetBoolean();
        job.DigestMatch = proof.GetProperty("digestMatch").ValueKind == JsonValueKind.True ? true : proof.GetProperty("digestMatch").ValueKind == JsonValueKind.False ? false : null;
        var problems = proof.GetProperty("problems").EnumerateArray().Select(e => e.GetString()).Take(3).ToList();
        if (!job.ProofOk.Value)
        {
            job.Error = $"set {job.Set} failed its proof: {string.Join("; ", problems)}";
        }
    }

    /// <summary>The repository's sets from <c>list --json</c> (shipped ranges left out).</summary>
    public static List<PolicySetInfo> ReadSets(string output, string instance)
    {
        var sets = new List<PolicySetInfo>();
        foreach (var s in JsonDocument.Parse(output).RootElement.EnumerateArray())
        {
            if (s.GetProperty("type").GetString() == "shipped" || s.GetProperty("instance").GetString() != instance)
            {
                continue;
            }
            var set = new PolicySetInfo
            {
                Id = s.GetProperty("id").GetString()!,
                Type = s.GetProperty("type").GetString()! + (s.TryGetProperty("changedSince", out var cs) && cs.ValueKind == JsonValueKind.Number ? "+pages" : ""),
                Parent = s.TryGetProperty("parent", out var parent) ? parent.GetString() : null,
                Ended = s.GetProperty("ended").GetDateTime(),
                GenLow = s.GetProperty("genLow").GetUInt32(),
                GenHigh = s.GetProperty("genHigh").GetUInt32(),
                Size = s.GetProperty("size").GetInt64(),
                Stored = s.GetProperty("stored").GetInt64(),
            };
            if (s.TryGetProperty("verified", out var v) && v.ValueKind == JsonValueKind.Object)
            {
                set.Verified = v.GetProperty("ok").GetBoolean();
            }
            if (s.TryGetProperty("proved", out var p) && p.ValueKind == JsonValueKind.Object)
            {
                set.Proved = p.GetProperty("ok").GetBoolean();
                set.ProvedAt = p.GetProperty("time").GetDateTime();
                set.DigestMatch = p.GetProperty("digestMatch").ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => null };
            }
            sets.Add(set);
        }
        return sets;
    }
}
