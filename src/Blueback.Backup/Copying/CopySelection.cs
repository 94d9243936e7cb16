using Blueback.Repository;

namespace Blueback.Backup;

/// <summary>What <c>repo copy</c> copies: one set (with the chain it needs), every set and shipped generation, or those
/// that ended at or after a time.</summary>
public sealed record CopySelection(string? SetId, bool All, DateTime? Since)
{
    public static CopySelection Everything { get; } = new(null, true, null);
}

/// <summary>Where a copy is: the set or shipped generation being copied, and the bytes of content done of all chosen.</summary>
public readonly record struct CopyProgress(string Item, long Done, long Total);

/// <summary>What a copy did: sets and shipped generations copied and those the destination already held, the bytes of
/// content they hold, what was read from the source and written to the destination, and what the destination
/// already held.</summary>
public sealed class CopyResult
{
    public List<string> Copied { get; } = [];
    public List<string> AlreadyThere { get; } = [];
    public int ShippedCopied { get; set; }
    public int ShippedAlreadyThere { get; set; }
    public long Bytes { get; set; }
    public long ReadBytes { get; set; }
    public long WrittenBytes { get; set; }
    public long ReusedBytes { get; set; }
    public double Seconds { get; set; }
}

/// <summary>A chunk in the source repository failed its own check: the copy stops before committing the set that
/// names it, and says which chunk and where.</summary>
public sealed class CopySourceDamagedException(string message) : RepositoryException(message);
