using System.CommandLine;
using System.Globalization;
using Blueback.Repository;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Cli.Commands;

/// <summary>The options every repository command shares: where the repository is (a directory, or
/// <c>s3://BUCKET/PREFIX</c> with the S3 settings), how many transfers run at once, and a bandwidth limit.</summary>
internal sealed class RepoOptions
{
    public Option<string> Repo { get; } = new("--repo") { Description = "The backup repository: a directory, or s3://BUCKET/PREFIX.", Required = true };
    public Option<string?> S3Endpoint { get; } = new("--s3-endpoint") { Description = "URL of an S3-compatible service (MinIO, Ceph RGW...); default: AWS, or $AWS_ENDPOINT_URL_S3 / $AWS_ENDPOINT_URL." };
    public Option<string?> S3Region { get; } = new("--s3-region") { Description = "Region (default: $AWS_REGION, else us-east-1)." };
    public Option<bool?> S3PathStyle { get; } = new("--s3-path-style") { Description = "Put the bucket in the path, not the host name (most S3-compatible services need it): true or false; default $BLUEBACK_S3_PATH_STYLE, else true with an endpoint." };
    public Option<string?> S3Checksums { get; } = new("--s3-checksums") { Description = "When the AWS SDK adds its checksums: when-required (default; what S3-compatible services such as Ceph RGW accept; uploads still carry Content-MD5) or when-supported (AWS only). Default $BLUEBACK_S3_CHECKSUMS, else $AWS_REQUEST_CHECKSUM_CALCULATION." };
    public Option<string?> S3PartSize { get; } = new("--s3-part-size") { Description = "Multipart part size (5M to 1G; default $BLUEBACK_S3_PART_SIZE, else 8M); objects over twice it (at least 16M) go up in parts." };
    public Option<int> Parallel { get; } = new("--parallel") { Description = "Chunk transfers in flight at once (memory: about 2 chunks of 4 MiB each).", DefaultValueFactory = _ => 4 };
    public Option<string?> MaxRate { get; } = new("--max-rate") { Description = "Bandwidth limit to and from the repository, in bytes per second (K, M, G suffixes: 50M)." };
    public Option<string?> KeyFile { get; } = new("--key-file") { Description = $"The key file of an encrypted repository (otherwise its passphrase comes from ${RepositorySecret.PasswordVariable})." };

    public void AddTo(Command command, bool withRepo = true, bool withKeyFile = true)
    {
        if (withRepo)
        {
            command.Options.Add(Repo);
        }
        command.Options.Add(S3Endpoint);
        command.Options.Add(S3Region);
        command.Options.Add(S3PathStyle);
        command.Options.Add(S3Checksums);
        command.Options.Add(S3PartSize);
        command.Options.Add(Parallel);
        command.Options.Add(MaxRate);
        if (withKeyFile)
        {
            command.Options.Add(KeyFile);
        }
    }

    /// <summary>The key file given, or the passphrase in the environment; null when neither is.</summary>
    public RepositorySecret? Secret(ParseResult pr) => RepositorySecret.FromKeyFileOrEnvironment(pr.GetValue(KeyFile));

    public string Location(ParseResult pr) => pr.GetValue(Repo)!;

    /// <summary>The store the options name, throttled when a limit is given.</summary>
    public IRepositoryStore Store(ParseResult pr) => Store(pr, Location(pr));

    public IRepositoryStore Store(ParseResult pr, string location) => Store(pr, location, null, null);

    /// <summary>The store at <paramref name="location"/>, with an endpoint and region of its own where given (one side of
    /// 'repo copy'), the shared S3 settings otherwise.</summary>
    public IRepositoryStore Store(ParseResult pr, string location, string? endpoint, string? region)
    {
        var store = RepositoryStores.Open(location, new S3Settings(endpoint ?? pr.GetValue(S3Endpoint), region ?? pr.GetValue(S3Region), pr.GetValue(S3PathStyle), pr.GetValue(S3Checksums), pr.GetValue(S3PartSize)));
        return pr.GetValue(MaxRate) is { } rate ? new ThrottledStore(store, ParseRate(rate)) : store;
    }

    public async Task<BackupRepository> OpenAsync(ParseResult pr, CancellationToken ct)
    {
        var repo = await BackupRepository.OpenAsync(Store(pr), Secret(pr), ct).ConfigureAwait(false);
        repo.Parallelism = Math.Clamp(pr.GetValue(Parallel), 1, 64);
        return repo;
    }

    /// <summary>Bytes per second: a number with an optional K, M or G (powers of 1,000: rates are decimal).</summary>
    public static long ParseRate(string text)
    {
        var t = text.Trim();
        long unit = 1;
        if (t.Length > 0 && char.ToUpperInvariant(t[^1]) is 'K' or 'M' or 'G')
        {
            unit = char.ToUpperInvariant(t[^1]) switch { 'K' => 1_000, 'M' => 1_000_000, _ => 1_000_000_000 };
            t = t[..^1];
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || n <= 0)
        {
            throw new Repository.RepositoryException($"--max-rate '{text}' is not a rate: write bytes per second, such as 50M or 200K.");
        }
        return (long)(n * unit);
    }
}
