namespace Blueback.Repository;

/// <summary>A set named on a command line: its whole id, or any unique prefix of at least <see cref="MinimumPrefix"/>
/// characters (the short form the console, <c>list</c> and <c>policy history</c> show). Every command that takes a
/// set id resolves it here, so what one place shows another accepts.</summary>
public static class SetIds
{
    /// <summary>The shortest prefix accepted, and the length of the short form shown.</summary>
    public const int MinimumPrefix = 8;

    /// <summary>The short form of a set id shown to people (its first <see cref="MinimumPrefix"/> characters).</summary>
    public static string Short(string setId) => setId.Length <= MinimumPrefix ? setId : setId[..MinimumPrefix];

    /// <summary>The set that <paramref name="idOrPrefix"/> names among <paramref name="sets"/>: an exact id, or the one
    /// set whose id starts with a prefix of at least <see cref="MinimumPrefix"/> characters. Throws
    /// <see cref="SetNotFoundException"/> when none does, <see cref="AmbiguousSetIdException"/> (listing the candidates)
    /// when several do or the prefix is too short to be safe.</summary>
    public static Manifest Resolve(IReadOnlyList<Manifest> sets, string idOrPrefix)
    {
        if (sets.FirstOrDefault(s => s.SetId == idOrPrefix) is { } exact)
        {
            return exact;
        }
        var matches = sets.Where(s => s.SetId.StartsWith(idOrPrefix, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matches.Count == 0)
        {
            throw new SetNotFoundException(idOrPrefix);
        }
        if (idOrPrefix.Length < MinimumPrefix)
        {
            throw new AmbiguousSetIdException(idOrPrefix, matches, $"'{idOrPrefix}' is too short to name a set: give at least {MinimumPrefix} characters of its id (the short form 'blueback list' shows).");
        }
        if (matches.Count > 1)
        {
            throw new AmbiguousSetIdException(idOrPrefix, matches, $"'{idOrPrefix}' names {matches.Count} sets: {string.Join(", ", matches.Select(s => $"{s.SetId} ({s.Instance} {s.Type}, {s.Ended:yyyy-MM-dd HH:mm} UTC)"))}. Give more characters of the one meant.");
        }
        return matches[0];
    }

    /// <summary>The full id that <paramref name="idOrPrefix"/> names among <paramref name="sets"/> (see <see cref="Resolve"/>).</summary>
    public static string ResolveId(IReadOnlyList<Manifest> sets, string idOrPrefix) => Resolve(sets, idOrPrefix).SetId;
}

/// <summary>A set id prefix that names several sets, or is too short: refused listing the candidates.</summary>
public sealed class AmbiguousSetIdException(string prefix, IReadOnlyList<Manifest> candidates, string message) : RepositoryException(message)
{
    /// <summary>The prefix given.</summary>
    public string Prefix { get; } = prefix;

    /// <summary>The sets it could name.</summary>
    public IReadOnlyList<Manifest> Candidates { get; } = candidates;
}
