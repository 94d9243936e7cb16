namespace Blueback.Protocol;

/// <summary>The nearest known name to a mistyped one ("incremetal" → "incremental", "--rep" → "--repo"), for the
/// "did you mean" of an error message.</summary>
public static class Suggestions
{
    /// <summary>The known name closest to <paramref name="name"/> by edit distance (case ignored), if close enough to be
    /// the one meant (at most 2 edits, or a third of its length); otherwise null.</summary>
    /// <param name="name">The name as written.</param>
    /// <param name="known">The names it may have meant.</param>
    /// <returns>The nearest known name, or null.</returns>
    public static string? Nearest(string name, IEnumerable<string> known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var k in known)
        {
            int d = Distance(name.ToLowerInvariant(), k.ToLowerInvariant());
            if (d < bestDistance)
            {
                (best, bestDistance) = (k, d);
            }
        }
        return bestDistance <= Math.Max(2, name.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
