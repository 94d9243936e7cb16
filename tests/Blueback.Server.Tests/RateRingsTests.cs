using Blueback.Protocol;
using Blueback.Server.Observability;

namespace Blueback.Server.Tests;

/// <summary>The plot's ranges kept at low cost: an hour in 10 s buckets, a day in 5 min, a week in 1 h, each a mean,
/// never more than 816 points whatever the uptime.</summary>
public class RateRingsTests
{
    private static readonly DateTime T0 = new(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);

    private static MetricsSample At(DateTime t, double commits, double backup = 0) => new() { Time = t, CommitsPerSecond = commits, BackupMBps = backup };

    [Fact]
    public void Each_range_holds_the_means_of_its_buckets()
    {
        var rings = new RateRings();
        // Two samples per 10 s bucket (every 5 s), for 10 minutes: commits alternate 10 and 20, backup 4 then 0.
        for (int i = 0; i < 120; i++)
        {
            rings.Add(At(T0.AddSeconds(5 * i), i % 2 == 0 ? 10 : 20, i < 60 ? 4 : 0));
        }
        var hour = rings.Snapshot("1h")!;
        Assert.Equal(10, hour.IntervalSeconds);
        Assert.Equal(60, hour.Samples.Count);
        Assert.All(hour.Samples, s => Assert.Equal(15, s.CommitsPerSecond));
        var day = rings.Snapshot("24h")!;
        Assert.Equal(300, day.IntervalSeconds);
        Assert.Equal(2, day.Samples.Count);
        Assert.Equal(4, day.Samples[0].BackupMBps);
        Assert.Equal(0, day.Samples[1].BackupMBps);
        Assert.Equal(T0.AddMinutes(5), day.Samples[0].Time); // stamped with its bucket's end
        Assert.Single(rings.Snapshot("7d")!.Samples);
    }

    [Fact]
    public void Memory_is_bounded_whatever_the_uptime()
    {
        var rings = new RateRings();
        // Ten days of a sample every 5 s.
        for (int i = 0; i < 10 * 24 * 720; i++)
        {
            rings.Add(At(T0.AddSeconds(5 * i), i));
        }
        Assert.Equal(360, rings.Snapshot("1h")!.Samples.Count);
        Assert.Equal(288, rings.Snapshot("24h")!.Samples.Count);
        var week = rings.Snapshot("7d")!.Samples;
        Assert.Equal(168, week.Count);
        Assert.True(week[^1].Time - week[0].Time == TimeSpan.FromHours(167), $"a week of hours: {week[0].Time:O} to {week[^1].Time:O}");
        Assert.Equal(816, RateRings.MaxPoints);
        Assert.Null(rings.Snapshot("30d"));
    }
}
