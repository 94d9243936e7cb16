using Blueback.Repository;

namespace Blueback.Backup;

/// <summary>How shipped generations attach to a chain: after the newest set of the instance's log stream, each
/// generation follows the one before with no gap. The one rule the shipper (where to resume), restore (what to
/// replay), list and verify share.</summary>
public static class ShippedChain
{
    /// <summary>The last generation the repository holds of <paramref name="instance"/>'s log stream
    /// <paramref name="logSignature"/> from its newest full (or copy) set on: that set's chain, then the shipped
    /// generations that follow it without a gap. Null when no full set of that stream is in the repository.</summary>
    public static uint? HeldThrough(IReadOnlyList<Manifest> sets, IReadOnlyList<ShippedKey> shipped, string instance, string logSignature)
    {
        var own = sets.Where(s => s.Instance == instance && s.LogSignature == logSignature).ToList();
        if (!own.Any(ChainResolver.IsBase))
        {
            return null;
        }
        uint through = own.Max(s => s.GenHigh);
        return Follow(shipped, instance, logSignature, through).LastOrDefault() is { } last && last.Generation > through ? last.Generation : through;
    }

    /// <summary>The shipped generations of the stream that follow generation <paramref name="after"/> one by one,
    /// up to the first gap.</summary>
    public static List<ShippedKey> Follow(IReadOnlyList<ShippedKey> shipped, string instance, string logSignature, uint after)
    {
        var byGen = shipped.Where(k => k.Instance == instance && k.LogSignature == logSignature).ToDictionary(k => k.Generation);
        var run = new List<ShippedKey>();
        for (uint g = after + 1; byGen.TryGetValue(g, out var k); g++)
        {
            run.Add(k);
        }
        return run;
    }

    /// <summary>Shipped generations of the stream after <paramref name="after"/> that are cut off from it by a gap
    /// (never replayed: restore stops at the gap), for verify and list to name.</summary>
    public static List<ShippedKey> Stranded(IReadOnlyList<ShippedKey> shipped, string instance, string logSignature, uint after)
    {
        var reached = Follow(shipped, instance, logSignature, after).Select(k => k.Generation).ToHashSet();
        return shipped.Where(k => k.Instance == instance && k.LogSignature == logSignature && k.Generation > after && !reached.Contains(k.Generation)).ToList();
    }
}
