namespace Blueback.Tests;

/// <summary>The test tiers, named for their cost (linked into every test project; <c>./test</c> picks them).
/// A test without a Category trait is Fast: in-process, seconds at most, nothing needed beyond the .NET SDK.
/// <c>[Trait(Tier.Category, Tier.Slow)]</c>: in the README's quick set but costly (real servers for many seconds,
/// fuzz and chaos runs, Ctrl+C through a pty) or needing a tool from the machine (chromium, faketime, moto_server,
/// ip netns, mount). <c>[Trait(Tier.Category, Tier.Stress)]</c>: the long randomized runs and kills, outside the
/// quick set.</summary>
public static class Tier
{
    /// <summary>The trait name the filters use: <c>--filter "Category!=Slow&amp;Category!=Stress"</c>.</summary>
    public const string Category = "Category";

    public const string Slow = "Slow";

    public const string Stress = "Stress";
}
