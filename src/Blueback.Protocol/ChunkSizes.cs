using System.Globalization;

namespace Blueback.Protocol;

/// <summary>The chunk sizes of a restore upload of a repository-format-2 file, as the <see cref="Routes.ChunkSizesHeader"/>
/// header carries them.</summary>
public static class ChunkSizes
{
    /// <summary>Chunk sizes as a header carries them: comma-separated, a run of equal sizes as SIZE*COUNT
    /// ("8192,8388608*255,4096"), so that a file of thousands of chunks still fits in a header.</summary>
    public static string Format(IEnumerable<int> sizes)
    {
        var parts = new List<string>();
        int? run = null;
        int count = 0;
        void Flush()
        {
            if (run is { } r)
            {
                parts.Add(count == 1 ? r.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{r}*{count}"));
            }
        }
        foreach (var s in sizes)
        {
            if (s == run)
            {
                count++;
                continue;
            }
            Flush();
            (run, count) = (s, 1);
        }
        Flush();
        return string.Join(',', parts);
    }

    /// <summary>Parses <see cref="Format"/>; null when it is not such a list, or when it would describe more
    /// than <paramref name="maxChunks"/> chunks or more than <paramref name="maxBytes"/> bytes (bad input from the network).</summary>
    public static List<int>? Parse(string text, int maxChunks = 1 << 20, long maxBytes = long.MaxValue)
    {
        var list = new List<int>();
        long total = 0;
        if (text.Length == 0)
        {
            return list;
        }
        foreach (var part in text.Split(','))
        {
            var star = part.IndexOf('*', StringComparison.Ordinal);
            int count = 1;
            if (!int.TryParse(star < 0 ? part : part[..star], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
                || (star >= 0 && (!int.TryParse(part[(star + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1))
                || list.Count + (long)count > maxChunks || (total += (long)n * count) > maxBytes)
            {
                return null;
            }
            list.AddRange(Enumerable.Repeat(n, count));
        }
        return list;
    }

}
