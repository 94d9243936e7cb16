using System.Text;
using Blueback.Protocol;
using Blueback.Server.Http;
using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Instances;

/// <summary>One page of an ordered scan, as every route that lists keys cuts it (the data API's scan, a browsed set's
/// table): at the limit or at <see cref="Routes.Limits.MaxScanPageBytes"/> of keys and values, whichever comes first,
/// and never empty while a key is left; and the query's bounds and limit read the same way.</summary>
internal static class ScanPages
{
    /// <summary>Takes rows from <paramref name="rows"/> into items; <c>Last</c> is the last key taken when more remain.</summary>
    public static (List<TItem> Items, byte[]? LastWhenMore) Take<TItem>(IEnumerable<KeyValuePair<byte[], byte[]>> rows, int limit, Func<KeyValuePair<byte[], byte[]>, TItem> item)
    {
        var items = new List<TItem>();
        long bytes = 0;
        byte[]? last = null;
        foreach (var kv in rows)
        {
            long size = kv.Key.Length + (long)kv.Value.Length;
            if (items.Count == limit || (items.Count > 0 && bytes + size > Routes.Limits.MaxScanPageBytes))
            {
                return (items, last);
            }
            bytes += size;
            last = kv.Key;
            items.Add(item(kv));
        }
        return (items, null);
    }

    /// <summary>The query's limit: <paramref name="fallback"/> when absent, else 1 to <see cref="Routes.Limits.MaxScanLimit"/>.</summary>
    public static bool Limit(IQueryCollection q, int fallback, out int limit, out IResult? error)
    {
        limit = fallback;
        error = null;
        if (q.TryGetValue("limit", out var ls) && (!int.TryParse(ls, System.Globalization.CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > Routes.Limits.MaxScanLimit))
        {
            error = Problems.BadRequest($"limit must be a whole number from 1 to {Routes.Limits.MaxScanLimit}.");
            return false;
        }
        return true;
    }

    /// <summary>A range bound: UTF-8 text, or "base64:..." for a key that is not text.</summary>
    public static bool Bound(IQueryCollection q, string name, out byte[]? value, out IResult? error)
    {
        value = null;
        error = null;
        if (!q.TryGetValue(name, out var s) || string.IsNullOrEmpty(s))
        {
            return true;
        }
        var text = s.ToString();
        if (text.StartsWith("base64:", StringComparison.Ordinal))
        {
            try
            {
                value = Convert.FromBase64String(text[7..]);
            }
            catch (FormatException)
            {
                error = Problems.BadRequest($"{name} starts with 'base64:' but the rest is not valid base64.");
                return false;
            }
        }
        else
        {
            value = Encoding.UTF8.GetBytes(text);
        }
        return true;
    }

    /// <summary>A key as a bound reads it back: its text when UTF-8, else "base64:...".</summary>
    public static string? Text(byte[]? key) => key is null ? null : IsUtf8(key) ? Encoding.UTF8.GetString(key) : "base64:" + Convert.ToBase64String(key);

    /// <summary>The first key after <paramref name="key"/> (a forward page's next start: from is inclusive).</summary>
    public static byte[] After(byte[] key) => [.. key, 0];

    public static bool IsUtf8(byte[] b) => System.Text.Unicode.Utf8.IsValid(b);
}
