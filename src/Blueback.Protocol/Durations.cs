using System.Globalization;

namespace Blueback.Protocol;

/// <summary>Durations as operators write them: a number and a unit (s, m, h, d, w), several summed ("1d12h").</summary>
public static class Durations
{
    /// <summary>Parses a duration such as "30m", "12h", "7d", "2w" or "1d12h" (units s, m, h, d, w; "0" is zero).</summary>
    /// <param name="text">The duration as written.</param>
    /// <param name="option">The option or setting it came from, named in the error message.</param>
    /// <returns>The sum of its parts.</returns>
    /// <exception cref="FormatException">The text is not such a duration (a missing number or unit, an unknown unit).</exception>
    public static TimeSpan Parse(string text, string option)
    {
        var total = TimeSpan.Zero;
        int i = 0;
        if (text == "0")
        {
            return total;
        }
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
            if (i == start || i == text.Length || !int.TryParse(text.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            {
                throw new FormatException($"{option} '{text}' is not a duration: write a number and a unit, such as 30m, 12h, 7d or 2w (s, m, h, d, w).");
            }
            total += text[i++] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                'd' => TimeSpan.FromDays(n),
                'w' => TimeSpan.FromDays(7 * n),
                _ => throw new FormatException($"{option} '{text}': unknown unit '{text[i - 1]}'; use s, m, h, d or w."),
            };
        }
        return total;
    }

    /// <summary>A duration as <see cref="Parse"/> reads it: whole days as days ("7d"), else hours or minutes to a tenth.</summary>
    /// <param name="duration">The duration.</param>
    /// <returns>Its text.</returns>
    public static string Format(TimeSpan duration) =>
        duration.TotalDays >= 1 && duration.TotalDays == Math.Floor(duration.TotalDays) ? string.Create(CultureInfo.InvariantCulture, $"{duration.TotalDays:0}d")
        : duration.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{duration.TotalHours:0.#}h")
        : string.Create(CultureInfo.InvariantCulture, $"{duration.TotalMinutes:0.#}m");
}
