using System.Text;

namespace Blueback.Protocol;

/// <summary>Keys travel in the URL path as percent-encoded bytes (UTF-8 for text keys). Decoding works on the raw
/// request target, so '/' (%2F) and any byte survive exactly.</summary>
public static class PercentEncoding
{
    /// <summary>Encodes bytes as a URL path segment: unreserved ASCII (letters, digits, -, _, ., ~) as itself, every other
    /// byte as %XX (uppercase hex).</summary>
    /// <param name="bytes">The key's bytes.</param>
    /// <returns>The encoded segment; empty for no bytes.</returns>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9' or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    /// <summary>Decodes a path segment to bytes. Returns false on a malformed escape.</summary>
    public static bool TryDecode(ReadOnlySpan<char> segment, out byte[] bytes)
    {
        var buffer = new List<byte>(segment.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < segment.Length; i++)
        {
            char c = segment[i];
            if (c == '%')
            {
                if (i + 2 >= segment.Length || !IsHex(segment[i + 1]) || !IsHex(segment[i + 2]))
                {
                    bytes = [];
                    return false;
                }
                buffer.Add((byte)((Hex(segment[i + 1]) << 4) | Hex(segment[i + 2])));
                i += 2;
            }
            else if (c < 0x80)
            {
                buffer.Add((byte)c);
            }
            else
            {
                int n = Encoding.UTF8.GetBytes(segment.Slice(i, char.IsHighSurrogate(c) && i + 1 < segment.Length ? 2 : 1), utf8);
                for (int k = 0; k < n; k++)
                {
                    buffer.Add(utf8[k]);
                }
                if (char.IsHighSurrogate(c))
                {
                    i++;
                }
            }
        }
        bytes = buffer.ToArray();
        return true;
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int Hex(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
