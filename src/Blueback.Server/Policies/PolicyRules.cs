using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.Server.Policies;

/// <summary>A policy's definition checked, and its durations read: every mistake named with what to write instead.</summary>
internal static class PolicyRules
{
    /// <summary>The shortest interval between fulls a policy may ask for without "allowShortSchedules".</summary>
    public static readonly TimeSpan MinimumFull = TimeSpan.FromHours(1);

    /// <summary>The shortest interval between incrementals or differentials without "allowShortSchedules".</summary>
    public static readonly TimeSpan MinimumIncremental = TimeSpan.FromMinutes(5);

    public static void Validate(PolicyDefinition p, Func<string, bool> instanceHosted, string where, bool allowShortSchedules = false)
    {
        if (!Names.IsValid(p.Name))
        {
            throw new ServerConfigException($"{where}: policy name '{p.Name}' is not valid (1 to 64 letters, digits, '-', '_', '.').");
        }
        if (!instanceHosted(p.Instance))
        {
            throw new ServerConfigException($"{where}: policy '{p.Name}' backs up instance '{p.Instance}', which this server does not host.");
        }
        if (string.IsNullOrWhiteSpace(p.Repository.Location))
        {
            throw new ServerConfigException($"{where}: policy '{p.Name}' has no repository location (\"repository\": {{\"location\": \"/backups/x\" or \"s3://bucket/prefix\"}}).");
        }
        if (p.Repository.Location.StartsWith("s3://", StringComparison.Ordinal))
        {
            try
            {
                RepositoryStores.Resolve(PolicyCommands.S3(p.Repository));
            }
            catch (RepositoryException ex)
            {
                throw new ServerConfigException($"{where}: policy '{p.Name}', its repository's S3 settings (\"s3PathStyle\", \"s3Checksums\", \"s3PartSize\"): {ex.Message}");
            }
        }
        if (p.Full is null)
        {
            throw new ServerConfigException($"{where}: policy '{p.Name}' has no \"full\" schedule: every chain starts with a full backup (\"full\": \"7d\").");
        }
        Schedule(p.Full, p, "full", MinimumFull, allowShortSchedules, where);
        if (p.Incremental is { } i)
        {
            Schedule(i, p, "incremental", MinimumIncremental, allowShortSchedules, where);
        }
        if (p.Differential is { } d)
        {
            Schedule(d, p, "differential", MinimumIncremental, allowShortSchedules, where);
        }
        if (p.ReadAllAfter is { } readAll)
        {
            if (!p.SkipUnchanged)
            {
                throw new ServerConfigException($"{where}: policy '{p.Name}' has \"readAllAfter\" without \"skipUnchanged\": it says how often a full that skips unchanged pages reads them all. Set \"skipUnchanged\": true, or drop it.") { Key = "readAllAfter" };
            }
            try
            {
                if (Durations.Parse(readAll, "readAllAfter") <= TimeSpan.Zero)
                {
                    throw new FormatException($"readAllAfter '{readAll}' must be longer than zero.");
                }
            }
            catch (FormatException ex)
            {
                throw new ServerConfigException($"{where}: policy '{p.Name}': {ex.Message}") { Key = "readAllAfter" };
            }
        }
        if (p.Shipping && !p.ChangedPages && (p.Incremental is not null || p.Differential is not null))
        {
            throw new ServerConfigException($"{where}: policy '{p.Name}' ships the log and takes incrementals or differentials of log records: the server deletes what it has shipped, so those would find their logs gone. Set \"changedPages\": true (they then hold pages and their own logs), or drop them (the shipped logs continue the full's chain).");
        }
        if (p.CopyTo is { } copyTo && (string.IsNullOrWhiteSpace(copyTo.Location) || copyTo.Location.TrimEnd('/') == p.Repository.Location.TrimEnd('/')))
        {
            throw new ServerConfigException($"{where}: policy '{p.Name}': \"copyTo\" needs the location of a second repository, not empty and not the policy's own (\"copyTo\": {{\"location\": \"s3://bucket/site-b\"}}).");
        }
        if (p.ShippingMaxLag is { } lag)
        {
            Interval(lag, p, "shippingMaxLag");
        }
        if (p.RetryAfter is { } retry)
        {
            Interval(retry, p, "retryAfter");
        }
        if (p.Prove.Every is { } every)
        {
            Interval(every, p, "prove.every");
        }
        if (p.Prove.MaxScratchMB is < 1)
        {
            throw new ServerConfigException($"{where}: policy '{p.Name}': \"prove.maxScratchMB\" must be at least 1.");
        }
        if (p.Retention is { } r)
        {
            if (r.KeepLast is < 1 || r.KeepDaily is < 0 || r.KeepWeekly is < 0 || r.KeepMonthly is < 0)
            {
                throw new ServerConfigException($"{where}: policy '{p.Name}': a \"retention\" count is out of range (keepLast at least 1, the others at least 0).");
            }
            if (r.KeepLast is null && r.KeepDaily is null && r.KeepWeekly is null && r.KeepMonthly is null && r.KeepWithin is null)
            {
                throw new ServerConfigException($"{where}: policy '{p.Name}': \"retention\" keeps nothing; give keepLast, keepDaily, keepWeekly, keepMonthly or keepWithin (or leave retention out to keep every set).");
            }
            if (r.KeepWithin is { } within)
            {
                Interval(within, p, "retention.keepWithin");
            }
        }
    }

    /// <summary>A backup's interval: a duration, and (unless short schedules are allowed) no shorter than
    /// <paramref name="minimum"/>: a full every 5 s copied a 1.1 GB instance without end.</summary>
    private static void Schedule(string text, PolicyDefinition p, string field, TimeSpan minimum, bool allowShort, string where)
    {
        TimeSpan t;
        try
        {
            t = Interval(text, p, field);
        }
        catch (ServerConfigException ex)
        {
            throw new ServerConfigException($"{where}: {ex.Message}") { Key = field };
        }
        if (!allowShort && t < minimum)
        {
            throw new ServerConfigException($"{where}: policy '{p.Name}' \"{field}\" is '{text}': a {field} backup that often is almost certainly a mistake (each {(field == "full" ? "copies the whole instance" : "runs a backup session")}). Give at least {(minimum.TotalHours >= 1 ? $"{minimum.TotalHours:0}h" : $"{minimum.TotalMinutes:0}m")}, or set \"allowShortSchedules\": true at the top of the server's config for a test server.") { Key = field };
        }
    }

    /// <summary>Refuses a schedule shorter than the last backup of its kind took (it would run back to back, never idle).</summary>
    public static void AgainstHistory(PolicyDefinition p, IEnumerable<PolicyJobInfo> history, string where)
    {
        foreach (var kind in new[] { PolicyJobKind.Full, PolicyJobKind.Incremental, PolicyJobKind.Differential })
        {
            if (IntervalOf(p, kind) is { } interval
                && history.FirstOrDefault(j => j.Kind == kind && j.State == PolicyJobState.Succeeded && j.Seconds is not null) is { } last
                && interval.TotalSeconds < last.Seconds)
            {
                throw new ServerConfigException($"{where}: policy '{p.Name}' \"{kind.WireName()}\" is every {interval.TotalSeconds:0} s, but its last {kind.WireName()} backup (job {last.Id}, {last.Started:yyyy-MM-dd HH:mm} UTC) took {last.Seconds:0} s: backups would run back to back. Give a longer interval.") { Key = kind.WireName() };
            }
        }
    }

    /// <summary>A duration of at least a second (the scheduler's tick).</summary>
    public static TimeSpan Interval(string text, PolicyDefinition p, string field)
    {
        TimeSpan t;
        try
        {
            t = Durations.Parse(text, $"policy '{p.Name}' \"{field}\"");
        }
        catch (FormatException ex)
        {
            throw new ServerConfigException(ex.Message);
        }
        return t >= TimeSpan.FromSeconds(1) ? t : throw new ServerConfigException($"policy '{p.Name}' \"{field}\" is '{text}'; give at least 1s.");
    }

    /// <summary>How often a backup of <paramref name="kind"/> is due; null where the policy takes none.</summary>
    public static TimeSpan? IntervalOf(PolicyDefinition p, PolicyJobKind kind) => kind switch
    {
        PolicyJobKind.Full => Interval(p.Full!, p, kind.WireName()),
        PolicyJobKind.Incremental => p.Incremental is { } i ? Interval(i, p, kind.WireName()) : null,
        PolicyJobKind.Differential => p.Differential is { } d ? Interval(d, p, kind.WireName()) : null,
        _ => null,
    };
}
