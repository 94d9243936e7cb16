using Blueback.Repository;

namespace Blueback.Repository.Tests;

/// <summary>A set named by any unique prefix of at least 8 characters (issue 34: the console's short ids were refused).</summary>
public class SetIdsTests
{
    private static readonly List<Manifest> Sets =
    [
        new() { SetId = "0123456789abcdef0123456789abcdef", Instance = "store", Type = "full" },
        new() { SetId = "0123456700000000000000000000000a", Instance = "store", Type = "incremental" },
        new() { SetId = "fedcba9876543210fedcba9876543210", Instance = "store", Type = "full" },
    ];

    [Fact]
    public void A_whole_id_or_a_unique_prefix_of_eight_or_more_names_its_set()
    {
        Assert.Equal(Sets[2].SetId, SetIds.ResolveId(Sets, Sets[2].SetId));
        Assert.Equal(Sets[2].SetId, SetIds.ResolveId(Sets, "fedcba98"));
        Assert.Equal(Sets[0].SetId, SetIds.ResolveId(Sets, "012345678"));
        Assert.Equal("fedcba98", SetIds.Short(Sets[2].SetId));
    }

    [Fact]
    public void An_ambiguous_prefix_is_refused_listing_the_candidates()
    {
        var ex = Assert.Throws<AmbiguousSetIdException>(() => SetIds.Resolve(Sets, "01234567"));
        Assert.Equal(2, ex.Candidates.Count);
        Assert.Contains(Sets[0].SetId, ex.Message, StringComparison.Ordinal);
        Assert.Contains(Sets[1].SetId, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_short_prefix_is_refused_and_an_unknown_one_is_not_found()
    {
        var ex = Assert.Throws<AmbiguousSetIdException>(() => SetIds.Resolve(Sets, "fedc"));
        Assert.Contains("at least 8", ex.Message, StringComparison.Ordinal);
        Assert.Throws<SetNotFoundException>(() => SetIds.Resolve(Sets, "99999999"));
    }
}
