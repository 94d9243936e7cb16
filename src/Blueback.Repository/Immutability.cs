using System.Text.Json.Serialization;

namespace Blueback.Repository;

/// <summary>S3 Object Lock's two modes: compliance (nobody, not even the bucket's owner, shortens or removes the
/// retention) and governance (a credential granted s3:BypassGovernanceRetention can).</summary>
public enum LockMode
{
    Compliance,
    Governance,
}

/// <summary>An immutable repository's settings (<c>immutable</c> in config.json): how long every object it writes
/// is locked, and in which mode. Nothing in such a repository is overwritten in place or deleted before its lock
/// expires (docs/repository.md, "Immutable repositories").</summary>
public sealed class ImmutabilityConfig
{
    /// <summary>The retention given to <c>repo init --immutable-days</c>.</summary>
    [JsonPropertyName("days")] public int Days { get; set; }

    /// <summary>The retention in seconds: <see cref="Days"/> in days, or what the test hook
    /// (<see cref="TestSecondsVariable"/>) gave at init.</summary>
    [JsonPropertyName("seconds")] public long Seconds { get; set; }

    [JsonPropertyName("lockMode")] public string Mode { get; set; } = "compliance";

    /// <summary>Test hook only: at <c>repo init --immutable-days</c>, a retention of this many seconds instead of
    /// days, so that tests can see a lock expire. Recorded in config.json like any retention.</summary>
    public const string TestSecondsVariable = "BLUEBACK_TEST_IMMUTABLE_SECONDS";

    [JsonIgnore] public TimeSpan Retention => TimeSpan.FromSeconds(Seconds);

    [JsonIgnore] public LockMode LockMode => ParseMode(Mode);

    /// <summary>The settings for <paramref name="days"/> in <paramref name="mode"/>, with the test hook applied.</summary>
    public static ImmutabilityConfig Create(int days, LockMode mode)
    {
        if (days < 1)
        {
            throw new RepositoryException($"--immutable-days {days} is refused: give a number of days of at least 1 (every object stays locked that long).");
        }
        long seconds = days * 86400L;
        if (Environment.GetEnvironmentVariable(TestSecondsVariable) is { Length: > 0 } hook)
        {
            seconds = long.TryParse(hook, System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0
                ? s
                : throw new RepositoryException($"{TestSecondsVariable}='{hook}' is not a positive number of seconds (it is a test hook; unset it).");
        }
        return new ImmutabilityConfig { Days = days, Seconds = seconds, Mode = mode == LockMode.Governance ? "governance" : "compliance" };
    }

    public static LockMode ParseMode(string text) => text.ToLowerInvariant() switch
    {
        "compliance" => LockMode.Compliance,
        "governance" => LockMode.Governance,
        _ => throw new RepositoryException($"Lock mode '{text}' is not known: give compliance or governance."),
    };

    /// <summary>How the repository's settings read to a person: "30 days, compliance".</summary>
    public override string ToString() =>
        Seconds == Days * 86400L ? $"{Days} day(s), {Mode}" : $"{Seconds} s (test hook {TestSecondsVariable}), {Mode}";
}

/// <summary>What a store puts on every object it writes: a lock of <paramref name="Period"/> from the write.</summary>
public sealed record ObjectRetention(LockMode Mode, TimeSpan Period);

/// <summary>A delete the store refused because the object is still locked (S3 Object Lock: AccessDenied on a locked
/// version): gc counts it as waiting for its lock, not as a failure.</summary>
public sealed class ObjectLockedException(string key, string message, Exception? inner = null) : RepositoryException(message, inner ?? new InvalidOperationException(message))
{
    /// <summary>The object (or prefix) whose delete was refused.</summary>
    public string Key { get; } = key;
}
