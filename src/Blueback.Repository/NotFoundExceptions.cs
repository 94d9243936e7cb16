namespace Blueback.Repository;

/// <summary>There is no repository at the location (no <c>config.json</c>): the program's exit code 3, which a caller
/// such as a policy acts on (it creates the repository) without reading the message.</summary>
public sealed class RepositoryNotFoundException(string location, string message) : RepositoryException(message)
{
    /// <summary>The location named.</summary>
    public string Location { get; } = location;
}

/// <summary>The repository has no committed set of that id (never committed, or forgotten by retention): exit code 3.</summary>
public sealed class SetNotFoundException(string setId)
    : RepositoryException($"the repository has no set '{setId}' (a set without a committed manifest does not exist, and retention may have forgotten it). 'blueback list' shows the sets.")
{
    /// <summary>The set named.</summary>
    public string SetId { get; } = setId;
}
