namespace Blueback.Repository.Stores;

/// <summary>The store a repository location names: a directory, or <c>s3://BUCKET/PREFIX</c> with the S3 settings
/// (each falling back to the AWS environment variables). One place for the program's options and the server's
/// policies, which open repositories in process.</summary>
public static class RepositoryStores
{
    /// <summary>The store at <paramref name="location"/>; an S3 store is <see cref="IDisposable"/>.</summary>
    /// <exception cref="RepositoryException">The location is a URL of another scheme.</exception>
    public static IRepositoryStore Open(string location, string? s3Endpoint = null, string? s3Region = null, bool s3PathStyle = false)
    {
        if (location.StartsWith("s3://", StringComparison.Ordinal))
        {
            var endpoint = s3Endpoint ?? Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3") ?? Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL");
            return new S3Store(location, new S3Options
            {
                Endpoint = endpoint,
                Region = s3Region ?? Environment.GetEnvironmentVariable("AWS_REGION") ?? Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION") ?? "us-east-1",
                PathStyle = s3PathStyle || endpoint is not null,
            });
        }
        if (location.Contains("://", StringComparison.Ordinal))
        {
            throw new RepositoryException($"'{location}': repositories are directories or s3://BUCKET/PREFIX.");
        }
        return new LocalDirectoryStore(location);
    }
}
