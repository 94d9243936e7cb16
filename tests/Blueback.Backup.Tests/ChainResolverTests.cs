using Blueback.Repository;
using Blueback.Storage.Backup;

namespace Blueback.Backup.Tests;

/// <summary>The one chain rule: parents for a new backup, links that join or leave a gap, other log streams and
/// instances, a missing parent, and the chain back to its full set.</summary>
public class ChainResolverTests
{
    private static readonly DateTime Day = new(2026, 11, 10, 12, 0, 0, DateTimeKind.Utc);

    private static Manifest M(string id, string type, uint low, uint high, string? parent = null, string log = "L1", string instance = "store") =>
        new() { SetId = id, Type = type, GenLow = low, GenHigh = high, Ended = Day.AddHours(high), ParentSetId = parent, LogSignature = log, Instance = instance };

    private static readonly List<Manifest> Sets =
    [
        M("full1", "full", 1, 3),
        M("inc1", "incremental", 4, 6, "full1"),
        M("diff1", "differential", 4, 8, "full1"),
        M("copy1", "copy", 7, 9),
        M("other", "full", 1, 50, instance: "directory"),
    ];

    [Fact]
    public void A_new_incremental_follows_the_newest_full_or_incremental_and_a_differential_the_newest_full()
    {
        Assert.Equal("inc1", ChainResolver.ParentForNew(Sets, "store", BackupType.Incremental)!.SetId);
        Assert.Equal("full1", ChainResolver.ParentForNew(Sets, "store", BackupType.Differential)!.SetId);
        Assert.Null(ChainResolver.ParentForNew(Sets, "store", BackupType.Full));
        Assert.Null(ChainResolver.ParentForNew(Sets, "nothing", BackupType.Incremental));
    }

    [Fact]
    public void A_link_joins_when_it_starts_no_later_than_the_generation_after_its_parent()
    {
        var full = Sets[0];
        Assert.Null(ChainResolver.LinkProblem(full, M("a", "incremental", 4, 5, "full1")));
        Assert.Null(ChainResolver.LinkProblem(full, M("b", "incremental", 2, 5, "full1"))); // an overlap is harmless
        var gap = ChainResolver.LinkProblem(full, M("c", "incremental", 6, 7, "full1"));
        Assert.NotNull(gap);
        Assert.Contains("set c starts at generation 6 but its parent full1 ends at 3: generations 4 to 5", gap, StringComparison.Ordinal);
        Assert.Contains("log stream L2", ChainResolver.LinkProblem(full, M("d", "incremental", 4, 5, "full1", log: "L2")), StringComparison.Ordinal);
        Assert.Contains("instance 'directory'", ChainResolver.LinkProblem(full, M("e", "incremental", 4, 5, "full1", instance: "directory")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_chain_runs_back_to_its_full_set_and_a_broken_link_is_named()
    {
        Assert.Equal(["full1", "inc1"], ChainResolver.ChainOf(Sets[1], Sets).Select(s => s.SetId));
        Assert.Equal(["copy1"], ChainResolver.ChainOf(Sets[3], Sets).Select(s => s.SetId));
        var orphan = M("orphan", "incremental", 10, 11, "gone");
        var ex = Assert.Throws<ChainBrokenException>(() => ChainResolver.ChainOf(orphan, [.. Sets, orphan]));
        Assert.Contains("parent set gone", ex.Message, StringComparison.Ordinal);
        var gapped = M("gapped", "incremental", 9, 10, "inc1");
        Assert.Throws<ChainBrokenException>(() => ChainResolver.ChainOf(gapped, [.. Sets, gapped]));
        Assert.NotNull(ChainResolver.Problem(gapped, [.. Sets, gapped]));
        Assert.True(ChainResolver.Descends(Sets[1], Sets[0], Sets));
        Assert.False(ChainResolver.Descends(gapped, Sets[0], [.. Sets, gapped]));
        Assert.Throws<RepositoryException>(() => ChainResolver.TypeOf(M("x", "weekly", 1, 2)));
    }
}
