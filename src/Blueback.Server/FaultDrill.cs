using System.Globalization;
using System.Text.Json.Serialization;
using Blueback.Storage;

namespace Blueback.Server;

/// <summary>One failure drill of an instance's disk I/O: after <see cref="After"/> calls of <see cref="Operation"/>
/// pass, the next <see cref="Count"/> fail as the disk would (an I/O error), or are delayed by
/// <see cref="DelayMs"/> when that is given. What the engine then does is what it does for a real fault: a failed
/// log write or flush stops the instance (its clients get 503 "Instance stopped"; every commit acknowledged before
/// is kept, and a restart brings it back), a failed database read fails that request or backup naming the page.</summary>
public sealed class FaultDrill
{
    [JsonPropertyName("operation")]
    public string Operation { get; set; } = "";

    [JsonPropertyName("after")]
    public int After { get; set; }

    [JsonPropertyName("count")]
    public int Count { get; set; } = 1;

    [JsonPropertyName("delayMs")]
    public int? DelayMs { get; set; }

    private static readonly string[] Names = Enum.GetNames<IoOperation>().Select(n => char.ToLowerInvariant(n[0]) + n[1..]).ToArray();

    public void Validate(string where)
    {
        if (!Enum.TryParse<IoOperation>(Operation, ignoreCase: true, out _) || int.TryParse(Operation, out _))
        {
            throw new ServerConfigException($"{where}: fault drill operation '{Operation}' is not one of {string.Join(", ", Names)}.");
        }
        if (After < 0 || Count < 1 || DelayMs is < 0 or > 60_000)
        {
            throw new ServerConfigException($"{where}: fault drill on {Operation}: \"after\" must be 0 or more, \"count\" 1 or more, and \"delayMs\" (if given) 0 to 60000.");
        }
    }

    /// <summary>The instance's faults for one open (fresh counts), or null without drills.</summary>
    public static IoFaults? Build(IReadOnlyList<FaultDrill>? drills)
    {
        if (drills is not { Count: > 0 })
        {
            return null;
        }
        var faults = new IoFaults();
        foreach (var d in drills)
        {
            var op = Enum.Parse<IoOperation>(d.Operation, ignoreCase: true);
            if (d.DelayMs is { } ms)
            {
                faults.Delay(op, TimeSpan.FromMilliseconds(ms), d.Count, d.After);
            }
            else
            {
                faults.Fail(op, d.Count, d.After, "failure drill (faultDrills in the server's config)");
            }
        }
        return faults;
    }

    /// <summary>How the server's start-up announces it.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Operation} {(DelayMs is { } ms ? $"delayed {ms} ms" : "fails")} {(Count == 1 ? "once" : $"{Count} times")} after {After} call(s)");
}
