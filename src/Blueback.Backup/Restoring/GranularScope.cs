using System.Text;
using Blueback.Repository;
using Blueback.Storage;

namespace Blueback.Backup;

/// <summary>A granular restore was refused: the database or table is not in the set, or the request contradicts
/// itself. The message names what the set holds.</summary>
public sealed class GranularRestoreException(string message) : RestoreException(message);

/// <summary>What a granular restore takes from the set: a database, one of its tables (or all), and a key range of it
/// ([From, To), either open).</summary>
public sealed record GranularScope(string Database, string? Table = null, byte[]? From = null, byte[]? To = null)
{
    /// <summary>The scope in words, for messages and progress.</summary>
    public string Describe() =>
        Table is null ? $"database '{Database}'"
        : From is null && To is null ? $"table '{Table}' of database '{Database}'"
        : $"keys [{Key(From) ?? "start"}, {Key(To) ?? "end"}) of table '{Table}' of database '{Database}'";

    /// <summary>A key bound as the command line takes it: UTF-8 text, or "base64:..." for bytes that are not text.</summary>
    public static byte[]? ParseKey(string? text, string option)
    {
        if (text is null)
        {
            return null;
        }
        if (!text.StartsWith("base64:", StringComparison.Ordinal))
        {
            return text.Length == 0 ? throw new GranularRestoreException($"{option} is empty: give a key (text, or base64:...).") : Encoding.UTF8.GetBytes(text);
        }
        try
        {
            return Convert.FromBase64String(text[7..]);
        }
        catch (FormatException)
        {
            throw new GranularRestoreException($"{option} starts with 'base64:' but the rest is not valid base64.");
        }
    }

    private static string? Key(byte[]? key) =>
        key is null ? null : System.Text.Unicode.Utf8.IsValid(key) ? Encoding.UTF8.GetString(key) : "base64:" + Convert.ToBase64String(key);

    /// <summary>Refuses a database the chain does not hold, naming those it does, before anything is restored.</summary>
    public void CheckAgainst(IReadOnlyList<Manifest> chain)
    {
        var pages = chain.Last(ChainResolver.HoldsPages);
        if (pages.Databases.All(d => d.Name != Database))
        {
            throw new GranularRestoreException($"database '{Database}' is not in set {pages.SetId} (instance '{pages.Instance}'): it holds {string.Join(", ", pages.Databases.Select(d => $"'{d.Name}'"))}. Name one of those with --database.");
        }
        if (From is not null && To is not null && From.AsSpan().SequenceCompareTo(To) >= 0)
        {
            throw new GranularRestoreException($"--from-key must be below --to-key: the range [{Key(From)}, {Key(To)}) is empty.");
        }
    }
}
