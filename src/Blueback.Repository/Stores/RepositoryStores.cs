using System.Globalization;

namespace Blueback.Repository.Stores;

/// <summary>The S3 settings a command or a policy gives; each null falls back to the environment, then to a default
/// that works on S3-compatible services (Ceph RGW, MinIO, moto) as well as on AWS.</summary>
/// <param name="Endpoint">The service's URL; else <c>$AWS_ENDPOINT_URL_S3</c>, <c>$AWS_ENDPOINT_URL</c>, else AWS.</param>
/// <param name="Region">Else <c>$AWS_REGION</c>, <c>$AWS_DEFAULT_REGION</c>, else us-east-1.</param>
/// <param name="PathStyle">Bucket in the path; else <c>$BLUEBACK_S3_PATH_STYLE</c> (true/false), else true exactly
/// when an endpoint is given.</param>
/// <param name="Checksums"><c>when-required</c> or <c>when-supported</c>; else <c>$BLUEBACK_S3_CHECKSUMS</c>, else the
/// SDK's own <c>$AWS_REQUEST_CHECKSUM_CALCULATION</c>, else when-required.</param>
/// <param name="PartSize">Multipart part size (bytes, or with K, M, G: binary); else <c>$BLUEBACK_S3_PART_SIZE</c>,
/// else 8 MiB. Objects over twice the part size (at least 16 MiB) go up in parts.</param>
public sealed record S3Settings(string? Endpoint = null, string? Region = null, bool? PathStyle = null, string? Checksums = null, string? PartSize = null);

/// <summary>The store a repository location names: a directory, or <c>s3://BUCKET/PREFIX</c> with the S3 settings
/// (each falling back to the environment variables). One place for the program's options and the server's
/// policies, which open repositories in process.</summary>
public static class RepositoryStores
{
    /// <summary>The store at <paramref name="location"/>; an S3 store is <see cref="IDisposable"/>.</summary>
    /// <exception cref="RepositoryException">The location is a URL of another scheme, or a setting is not valid.</exception>
    public static IRepositoryStore Open(string location, string? s3Endpoint = null, string? s3Region = null, bool? s3PathStyle = null) =>
        Open(location, new S3Settings(s3Endpoint, s3Region, s3PathStyle));

    /// <summary>The store at <paramref name="location"/> with these S3 settings; an S3 store is <see cref="IDisposable"/>.</summary>
    /// <exception cref="RepositoryException">The location is a URL of another scheme, or a setting is not valid.</exception>
    public static IRepositoryStore Open(string location, S3Settings s3)
    {
        if (location.StartsWith("s3://", StringComparison.Ordinal))
        {
            return new S3Store(location, Resolve(s3));
        }
        if (location.Contains("://", StringComparison.Ordinal))
        {
            throw new RepositoryException($"'{location}': repositories are directories or s3://BUCKET/PREFIX.");
        }
        return new LocalDirectoryStore(location);
    }

    /// <summary>The options <paramref name="s3"/> comes to once the environment and the defaults fill its gaps.</summary>
    /// <exception cref="RepositoryException">A setting is not valid; the message names it and its valid values.</exception>
    public static S3Options Resolve(S3Settings s3)
    {
        var endpoint = s3.Endpoint ?? Env("AWS_ENDPOINT_URL_S3") ?? Env("AWS_ENDPOINT_URL");
        bool pathStyle = s3.PathStyle ?? ParseBool(Env("BLUEBACK_S3_PATH_STYLE"), "$BLUEBACK_S3_PATH_STYLE") ?? endpoint is not null;
        var checksums = ParseChecksums(s3.Checksums, "--s3-checksums")
            ?? ParseChecksums(Env("BLUEBACK_S3_CHECKSUMS"), "$BLUEBACK_S3_CHECKSUMS")
            ?? ParseChecksums(Env("AWS_REQUEST_CHECKSUM_CALCULATION"), "$AWS_REQUEST_CHECKSUM_CALCULATION")
            ?? S3Checksums.WhenRequired;
        long partSize = ParseSize(s3.PartSize, "--s3-part-size") ?? ParseSize(Env("BLUEBACK_S3_PART_SIZE"), "$BLUEBACK_S3_PART_SIZE") ?? S3Options.DefaultPartSize;
        if (partSize is < S3Options.MinPartSize or > 1L << 30)
        {
            throw new RepositoryException($"S3 part size {partSize:N0} bytes is outside 5 MiB to 1 GiB: give --s3-part-size (or $BLUEBACK_S3_PART_SIZE) such as 8M or 64M.");
        }
        return new S3Options
        {
            Endpoint = endpoint,
            Region = s3.Region ?? Env("AWS_REGION") ?? Env("AWS_DEFAULT_REGION") ?? "us-east-1",
            PathStyle = pathStyle,
            Checksums = checksums,
            PartSize = (int)partSize,
            MultipartThreshold = Math.Max(S3Options.DefaultMultipartThreshold, 2 * partSize),
        };
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private static bool? ParseBool(string? text, string what) => text?.Trim().ToUpperInvariant() switch
    {
        null => null,
        "1" or "TRUE" or "YES" => true,
        "0" or "FALSE" or "NO" => false,
        _ => throw new RepositoryException($"{what} '{text}' is not true or false."),
    };

    /// <summary>when-required / when_required / WHEN_REQUIRED and the same for when-supported.</summary>
    internal static S3Checksums? ParseChecksums(string? text, string what) => text?.Trim().Replace('_', '-').ToUpperInvariant() switch
    {
        null => null,
        "WHEN-REQUIRED" => S3Checksums.WhenRequired,
        "WHEN-SUPPORTED" => S3Checksums.WhenSupported,
        _ => throw new RepositoryException($"{what} '{text}' is not a checksum mode: write when-required (S3-compatible services) or when-supported (the AWS SDK's default, AWS only)."),
    };

    /// <summary>Bytes: a number with an optional K, M or G (powers of 1,024, as part sizes are).</summary>
    public static long? ParseSize(string? text, string what)
    {
        if (text is null)
        {
            return null;
        }
        var t = text.Trim();
        if (t.EndsWith("iB", StringComparison.OrdinalIgnoreCase))
        {
            t = t[..^2];
        }
        long unit = 1;
        if (t.Length > 0 && char.ToUpperInvariant(t[^1]) is 'K' or 'M' or 'G')
        {
            unit = char.ToUpperInvariant(t[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            t = t[..^1];
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || n <= 0)
        {
            throw new RepositoryException($"{what} '{text}' is not a size: write bytes, or a number with K, M or G, such as 8M.");
        }
        return (long)(n * unit);
    }
}
