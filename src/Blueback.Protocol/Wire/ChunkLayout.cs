using System.Globalization;

namespace Blueback.Protocol.Wire;

/// <summary>Where a file's chunks begin and end: every <c>chunkSize</c> bytes from the start, except that a chunk
/// also ends at each cut (a database image's header pages, its page map, its trailer page: what changes at every
/// backup is kept apart from the pages, so that chunks of unchanged pages are the same bytes, and are stored once).
/// The server cuts a stream this way and the program stores it this way: both must agree, so both use this.</summary>
public static class ChunkLayout
{
    /// <summary>The most cuts a request may name.</summary>
    public const int MaxCuts = 16;

    /// <summary>The length of the chunk that starts at <paramref name="offset"/> of a file of <paramref name="end"/>
    /// bytes: <paramref name="chunkSize"/>, or less up to the next cut or the end.</summary>
    /// <param name="offset">Where the chunk starts.</param>
    /// <param name="end">The file's length.</param>
    /// <param name="chunkSize">The repository's chunk size.</param>
    /// <param name="cuts">Offsets where a chunk must end.</param>
    public static int Length(long offset, long end, int chunkSize, IReadOnlyList<long>? cuts)
    {
        long length = Math.Min(chunkSize, end - offset);
        if (cuts is not null)
        {
            foreach (var cut in cuts)
            {
                if (cut > offset && cut - offset < length)
                {
                    length = cut - offset;
                }
            }
        }
        return (int)length;
    }

    /// <summary>Every chunk of a file of <paramref name="end"/> bytes: its offset and length, in order.</summary>
    /// <param name="end">The file's length.</param>
    /// <param name="chunkSize">The repository's chunk size.</param>
    /// <param name="cuts">Offsets where a chunk must end.</param>
    public static IEnumerable<(long Offset, int Length)> Chunks(long end, int chunkSize, IReadOnlyList<long>? cuts)
    {
        for (long at = 0; at < end;)
        {
            int n = Length(at, end, chunkSize, cuts);
            yield return (at, n);
            at += n;
        }
    }

    /// <summary>Cuts as a query carries them: comma-separated offsets.</summary>
    /// <param name="cuts">The cuts.</param>
    public static string FormatCuts(IEnumerable<long> cuts) => string.Join(',', cuts.Select(c => c.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Parses <see cref="FormatCuts"/>; null when it is not such a list or names more than
    /// <see cref="MaxCuts"/> (bad input from the network).</summary>
    /// <param name="text">The query's value; null or empty for none.</param>
    public static List<long>? ParseCuts(string? text)
    {
        var cuts = new List<long>();
        if (string.IsNullOrEmpty(text))
        {
            return cuts;
        }
        foreach (var part in text.Split(','))
        {
            if (cuts.Count == MaxCuts || !long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long cut))
            {
                return null;
            }
            cuts.Add(cut);
        }
        return cuts;
    }
}
