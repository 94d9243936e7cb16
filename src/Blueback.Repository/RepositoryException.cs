namespace Blueback.Repository;

/// <summary>A problem in a repository or a set, naming the object. The base of the repository layer's errors.</summary>
public class RepositoryException : Exception
{
    public RepositoryException(string message) : base(message)
    {
    }

    public RepositoryException(string message, Exception inner) : base(message, inner)
    {
    }
}
