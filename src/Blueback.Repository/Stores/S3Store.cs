using System.Net;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Blueback.Repository.Stores;

/// <summary>Where and how to reach an S3-compatible store. Credentials come from the usual AWS environment
/// variables or profile (the SDK's default chain).</summary>
public sealed record S3Options
{
    /// <summary>The service's URL (MinIO, Ceph RGW, moto...); null for AWS itself.</summary>
    public string? Endpoint { get; init; }
    public string Region { get; init; } = "us-east-1";
    /// <summary>Bucket in the path (http://host/bucket/key) rather than in the host name: what most S3-compatible
    /// stores need.</summary>
    public bool PathStyle { get; init; }
    /// <summary>When the SDK adds its own checksums to requests and checks them on responses. The default,
    /// <see cref="S3Checksums.WhenRequired"/>, is what S3-compatible services accept (Ceph RGW 16.2 refuses the SDK's
    /// trailing aws-chunked checksums with 400 XAmzContentSHA256Mismatch); every upload still carries its Content-MD5
    /// and its ETag is checked, so nothing goes unchecked.</summary>
    public S3Checksums Checksums { get; init; } = S3Checksums.WhenRequired;
    /// <summary>Objects larger than this go up in parts.</summary>
    public long MultipartThreshold { get; init; } = DefaultMultipartThreshold;
    /// <summary>Size of each part of a multipart upload (S3's minimum is 5 MiB, except for the last part).</summary>
    public int PartSize { get; init; } = DefaultPartSize;
    /// <summary>The default <see cref="MultipartThreshold"/>: 16 MiB (a repository's chunks, about 4 MiB, go up whole).</summary>
    public const long DefaultMultipartThreshold = 16 << 20;
    /// <summary>The default <see cref="PartSize"/>: 8 MiB, within every service's limits (5 MiB to 5 GiB).</summary>
    public const int DefaultPartSize = 8 << 20;
    /// <summary>The smallest part S3 accepts but for the last.</summary>
    public const int MinPartSize = 5 << 20;
    /// <summary>How many times a call that failed for a transient reason (timeout, 5xx, throttling, a dropped
    /// connection) is tried again, with exponential backoff, before the failure is reported. A 4xx (but 408, 429
    /// and throttling) is permanent and never retried.</summary>
    public int MaxRetries { get; init; } = 6;
    /// <summary>The first retry's wait, doubled each time up to <see cref="MaxRetryDelay"/>, half of it random:
    /// with the defaults the retries span about 12 to 25 s, an outage of that length is ridden out.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>The longest wait between two tries.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);
    /// <summary>When set, the HTTP handler the client sends through (tests inject faults with it); null: the SDK's own.</summary>
    public Func<HttpMessageHandler>? HttpHandler { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>When the AWS SDK computes request checksums and validates response checksums.</summary>
public enum S3Checksums
{
    /// <summary>Only for the operations that require one (DeleteObjects): what S3-compatible services accept.</summary>
    WhenRequired,

    /// <summary>The SDK's own default: a trailing CRC32 (aws-chunked) on every upload, checked on every download.
    /// AWS accepts it; Ceph RGW 16.2 and other S3-compatible services may not.</summary>
    WhenSupported,
}

/// <summary>A repository in an S3-compatible bucket under a prefix: <c>s3://BUCKET/PREFIX</c>. Every upload is
/// checked: its MD5 goes with it (the service refuses bytes that do not match) and the ETag that comes back must be
/// ours (for a multipart upload, the MD5 of the parts' MD5s). A PUT appears whole or not at all; a multipart upload
/// that fails is aborted, and <c>repo gc</c> aborts any left by a process that died.</summary>
public sealed class S3Store : IRepositoryStore, IDisposable
{
    private readonly AmazonS3Client _client;
    private readonly S3Options _options;
    private readonly string _bucket;
    private readonly string _prefix;
    // An immutable repository's lock, put on every object written (PUT, create, multipart); null: none.
    private ObjectRetention? _retention;

    public S3Store(string url, S3Options options)
    {
        (_bucket, _prefix) = ParseUrl(url);
        if (options.PartSize < S3Options.MinPartSize || options.MultipartThreshold < options.PartSize)
        {
            throw new RepositoryException($"'{url}': a multipart part size of {options.PartSize:N0} bytes with a threshold of {options.MultipartThreshold:N0} is refused: parts must be at least 5 MiB (S3's minimum) and the threshold at least one part; give --s3-part-size 8M or more.");
        }
        _options = options;
        Location = url.TrimEnd('/');
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.PathStyle,
            MaxErrorRetry = 0, // Guard retries, by its own classification, and says so
            RetryMode = RequestRetryMode.Standard,
            Timeout = options.Timeout,
            AuthenticationRegion = options.Region,
            RequestChecksumCalculation = options.Checksums == S3Checksums.WhenSupported ? RequestChecksumCalculation.WHEN_SUPPORTED : RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = options.Checksums == S3Checksums.WhenSupported ? ResponseChecksumValidation.WHEN_SUPPORTED : ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (options.HttpHandler is { } handler)
        {
            config.HttpClientFactory = new HandlerFactory(handler, options.Timeout);
        }
        if (options.Endpoint is { } endpoint)
        {
            config.ServiceURL = endpoint;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }
        _client = new AmazonS3Client(config);
    }

    public string Location { get; }

    /// <summary>Splits <c>s3://BUCKET/PREFIX</c>; the prefix may be empty.</summary>
    public static (string Bucket, string Prefix) ParseUrl(string url)
    {
        const string scheme = "s3://";
        if (!url.StartsWith(scheme, StringComparison.Ordinal) || url.Length == scheme.Length)
        {
            throw new RepositoryException($"'{url}' is not an S3 location: write s3://BUCKET/PREFIX.");
        }
        var rest = url[scheme.Length..].Trim('/');
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..] + "/";
        if (bucket.Length is < 3 or > 63 || !bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
        {
            throw new RepositoryException($"'{bucket}' in '{url}' is not a valid bucket name (3 to 63 lowercase letters, digits, '-' and '.').");
        }
        return (bucket, prefix);
    }

    private string KeyOf(string key) => _prefix + key;

    private string Relative(string fullKey) => fullKey[_prefix.Length..];

    /// <summary>The full key prefix of everything "in" <paramref name="prefix"/> (the repository's root when empty).</summary>
    private string Directory(string prefix) => prefix.Trim('/') is { Length: > 0 } p ? KeyOf(p + "/") : _prefix;

    public void UseRetention(ObjectRetention retention) => _retention = retention;

    /// <summary>An immutable repository needs a bucket with Object Lock on (which needs versioning, set when the
    /// bucket is made): without it a PUT with a retention is refused, and a locked object would be deletable.</summary>
    public async Task CheckRetentionAsync(CancellationToken cancellationToken)
    {
        const string remedy = "An immutable repository needs a bucket created with Object Lock enabled (aws s3api create-bucket --bucket {0} --object-lock-enabled-for-bucket; Object Lock cannot be turned on for an existing bucket on most services): create one and give it to 'repo init', or leave out --immutable-days.";
        GetObjectLockConfigurationResponse response;
        try
        {
            response = await Guard("", "read the Object Lock configuration of", () => _client.GetObjectLockConfigurationAsync(new GetObjectLockConfigurationRequest { BucketName = _bucket }, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (RepositoryException ex) when (ex.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.NotFound } s3 && s3.ErrorCode != "NoSuchBucket")
        {
            throw new RepositoryException($"Bucket '{_bucket}' at {_options.Endpoint ?? "AWS"} has no Object Lock configuration ({s3.ErrorCode}). " + string.Format(System.Globalization.CultureInfo.InvariantCulture, remedy, _bucket), ex);
        }
        if (response.ObjectLockConfiguration?.ObjectLockEnabled != ObjectLockEnabled.Enabled)
        {
            throw new RepositoryException($"Bucket '{_bucket}' at {_options.Endpoint ?? "AWS"} does not have Object Lock enabled. " + string.Format(System.Globalization.CultureInfo.InvariantCulture, remedy, _bucket));
        }
    }

    /// <summary>The lock a write puts on its object: from now for the repository's retention.</summary>
    private (ObjectLockMode Mode, DateTime Until)? LockOfWrite() => _retention is { } r
        ? (r.Mode == LockMode.Governance ? ObjectLockMode.Governance : ObjectLockMode.Compliance, DateTime.UtcNow + r.Period)
        : null;

    public Task WriteAtomicAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => WriteAsync(key, data, cancellationToken);

    public Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        Guard(key, "write", data.Length > _options.MultipartThreshold ? () => MultipartAsync(key, data, cancellationToken) : () => PutAsync(key, data, null, cancellationToken), cancellationToken);

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            await Guard(key, "create", () => PutAsync(key, data, "*", cancellationToken), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RepositoryException ex) when (ex.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict })
        {
            return false;
        }
    }

    private async Task PutAsync(string key, ReadOnlyMemory<byte> data, string? ifNoneMatch, CancellationToken ct)
    {
        var md5 = MD5.HashData(data.Span);
        using var body = new MemoryStream(data.ToArray(), writable: false);
        var request = new PutObjectRequest
        {
            BucketName = _bucket,
            Key = KeyOf(key),
            InputStream = body,
            MD5Digest = Convert.ToBase64String(md5),
            AutoCloseStream = false,
        };
        if (ifNoneMatch is not null)
        {
            request.IfNoneMatch = ifNoneMatch;
        }
        if (LockOfWrite() is { } lockOf)
        {
            request.ObjectLockMode = lockOf.Mode;
            request.ObjectLockRetainUntilDate = lockOf.Until;
        }
        var response = await _client.PutObjectAsync(request, ct).ConfigureAwait(false);
        CheckETag(key, response.ETag, Convert.ToHexStringLower(md5));
    }

    /// <summary>Parts of <see cref="S3Options.PartSize"/>, each with its MD5, the whole checked by the combined ETag;
    /// any failure aborts the upload so that no part is left billed and hidden.</summary>
    private async Task MultipartAsync(string key, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var initiate = new InitiateMultipartUploadRequest { BucketName = _bucket, Key = KeyOf(key) };
        if (LockOfWrite() is { } lockOf)
        {
            initiate.ObjectLockMode = lockOf.Mode;
            initiate.ObjectLockRetainUntilDate = lockOf.Until;
        }
        var init = await _client.InitiateMultipartUploadAsync(initiate, ct).ConfigureAwait(false);
        try
        {
            var parts = new List<PartETag>();
            using var md5s = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            for (int offset = 0, number = 1; offset < data.Length; offset += _options.PartSize, number++)
            {
                var part = data.Slice(offset, Math.Min(_options.PartSize, data.Length - offset));
                var md5 = MD5.HashData(part.Span);
                md5s.AppendData(md5);
                using var body = new MemoryStream(part.ToArray(), writable: false);
                var r = await _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _bucket,
                    Key = KeyOf(key),
                    UploadId = init.UploadId,
                    PartNumber = number,
                    InputStream = body,
                    MD5Digest = Convert.ToBase64String(md5),
                }, ct).ConfigureAwait(false);
                CheckETag($"{key} (part {number})", r.ETag, Convert.ToHexStringLower(md5));
                parts.Add(new PartETag(number, r.ETag));
            }
            var done = await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = KeyOf(key),
                UploadId = init.UploadId,
                PartETags = parts,
            }, ct).ConfigureAwait(false);
            CheckETag(key, done.ETag, $"{Convert.ToHexStringLower(md5s.GetHashAndReset())}-{parts.Count}");
        }
        catch
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = KeyOf(key), UploadId = init.UploadId }, bound.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AmazonServiceException or OperationCanceledException or HttpRequestException or IOException)
            {
                // 'repo gc' aborts it later.
            }
            throw;
        }
    }

    /// <summary>An ETag that is an MD5 (what S3 returns without KMS encryption) must be ours.</summary>
    private void CheckETag(string key, string? etag, string expected)
    {
        var got = etag?.Trim('"') ?? "";
        bool looksLikeMd5 = got.Length >= 32 && got[..32].All(char.IsAsciiHexDigit);
        if (looksLikeMd5 && !string.Equals(got, expected, StringComparison.OrdinalIgnoreCase))
        {
            throw new RepositoryException($"'{Location}/{key}': the store reports ETag {got} for the upload, but its bytes have {expected}: the object was damaged on the way or by the store. Nothing was committed; run the backup again.");
        }
    }

    public async Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken) =>
        await Guard(key, "read", async () =>
        {
            using var response = await _client.GetObjectAsync(_bucket, KeyOf(key), cancellationToken).ConfigureAwait(false);
            using var ms = new MemoryStream(response.ContentLength > 0 ? (int)response.ContentLength : 0);
            await response.ResponseStream.CopyToAsync(ms, cancellationToken).ConfigureAwait(false);
            return ms.ToArray();
        }, cancellationToken).ConfigureAwait(false);

    public async Task<long> ReadIntoAsync(string key, Memory<byte> buffer, CancellationToken cancellationToken) =>
        await Guard(key, "read", async () =>
        {
            using var response = await _client.GetObjectAsync(_bucket, KeyOf(key), cancellationToken).ConfigureAwait(false);
            long length = response.ContentLength;
            int want = (int)Math.Min(length, buffer.Length), done = 0;
            while (done < want)
            {
                int n = await response.ResponseStream.ReadAsync(buffer[done..want], cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                done += n;
            }
            return done == want ? length : done;
        }, cancellationToken).ConfigureAwait(false);

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await Guard(key, "look up", () => _client.GetObjectMetadataAsync(_bucket, KeyOf(key), cancellationToken), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RepositoryException ex) when (ex.InnerException is AmazonS3Exception { StatusCode: HttpStatusCode.NotFound })
        {
            return false;
        }
    }

    public async Task<List<string>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var result = new List<string>();
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = Directory(prefix), Delimiter = "/" };
        while (true)
        {
            var page = await Guard(prefix, "list", () => _client.ListObjectsV2Async(request, cancellationToken), cancellationToken).ConfigureAwait(false);
            result.AddRange((page.CommonPrefixes ?? []).Select(p => Relative(p.TrimEnd('/'))));
            result.AddRange((page.S3Objects ?? []).Select(o => Relative(o.Key)));
            if (page.IsTruncated != true)
            {
                break;
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
        return result.Order(StringComparer.Ordinal).ToList();
    }

    public async Task<List<StoredObject>> ListObjectsAsync(string prefix, CancellationToken cancellationToken)
    {
        var result = new List<StoredObject>();
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = Directory(prefix) };
        while (true)
        {
            var page = await Guard(prefix, "list", () => _client.ListObjectsV2Async(request, cancellationToken), cancellationToken).ConfigureAwait(false);
            result.AddRange((page.S3Objects ?? []).Select(o => new StoredObject(Relative(o.Key), o.Size ?? 0, (o.LastModified ?? DateTime.MinValue).ToUniversalTime())));
            if (page.IsTruncated != true)
            {
                break;
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
        return result;
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) => _retention is null
        ? Guard(key, "delete", () => _client.DeleteObjectAsync(_bucket, KeyOf(key), cancellationToken), cancellationToken)
        : DeleteVersionsAsync(key, exact: true, cancellationToken);

    public async Task DeletePrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        if (_retention is not null)
        {
            await DeleteVersionsAsync(prefix, exact: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        var objects = await ListObjectsAsync(prefix, cancellationToken).ConfigureAwait(false);
        foreach (var batch in objects.Chunk(1000))
        {
            var response = await Guard(prefix, "delete", () => _client.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = _bucket,
                Objects = batch.Select(o => new KeyVersion { Key = KeyOf(o.Key) }).ToList(),
            }, cancellationToken), cancellationToken).ConfigureAwait(false);
            if (response.DeleteErrors is { Count: > 0 } errors)
            {
                throw new RepositoryException($"'{Location}/{prefix}': {errors.Count} object(s) could not be deleted, the first '{errors[0].Key}': {errors[0].Message}. Run the command again.");
            }
        }
    }

    /// <summary>In a bucket with Object Lock (versioned), a DELETE without a version only adds a delete marker and
    /// frees nothing; gc of an immutable repository removes every version of the object (or of everything under the
    /// prefix) by id, delete markers included. A version still locked is refused (AccessDenied): that is
    /// <see cref="ObjectLockedException"/>, what gc counts as waiting for its lock.</summary>
    private async Task DeleteVersionsAsync(string keyOrPrefix, bool exact, CancellationToken ct)
    {
        var versions = new List<KeyVersion>();
        var full = exact ? KeyOf(keyOrPrefix) : Directory(keyOrPrefix);
        var request = new ListVersionsRequest { BucketName = _bucket, Prefix = full };
        while (true)
        {
            var page = await Guard(keyOrPrefix, "list the versions of", () => _client.ListVersionsAsync(request, ct), ct).ConfigureAwait(false);
            versions.AddRange((page.Versions ?? []).Where(v => !exact || v.Key == full).Select(v => new KeyVersion { Key = v.Key, VersionId = v.VersionId }));
            if (page.IsTruncated != true)
            {
                break;
            }
            request.KeyMarker = page.NextKeyMarker;
            request.VersionIdMarker = page.NextVersionIdMarker;
        }
        var locked = new List<string>();
        foreach (var batch in versions.Chunk(1000))
        {
            var response = await Guard(keyOrPrefix, "delete", () => _client.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = _bucket, Objects = batch.ToList() }, ct), ct).ConfigureAwait(false);
            foreach (var error in response.DeleteErrors ?? [])
            {
                if (error.Code is not "AccessDenied")
                {
                    throw new RepositoryException($"'{Location}/{keyOrPrefix}': version {error.VersionId} of '{Relative(error.Key)}' could not be deleted: {error.Code} {error.Message}. Run the command again.");
                }
                locked.Add(Relative(error.Key));
            }
        }
        if (locked.Count > 0)
        {
            throw new ObjectLockedException(keyOrPrefix, $"'{Location}/{keyOrPrefix}': the store refused to delete {locked.Count} locked version(s), the first of '{locked[0]}' (Object Lock: AccessDenied). They are removed by a gc after their lock expires.");
        }
    }

    public async Task<List<string>> CleanUpAsync(TimeSpan olderThan, CancellationToken cancellationToken)
    {
        var removed = new List<string>();
        var request = new ListMultipartUploadsRequest { BucketName = _bucket, Prefix = _prefix };
        while (true)
        {
            var page = await Guard("", "list unfinished uploads", () => _client.ListMultipartUploadsAsync(request, cancellationToken), cancellationToken).ConfigureAwait(false);
            foreach (var u in (page.MultipartUploads ?? []).Where(u => (u.Initiated ?? DateTime.MinValue).ToUniversalTime() < DateTime.UtcNow - olderThan))
            {
                await Guard(u.Key, "abort an unfinished upload", () => _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = u.Key, UploadId = u.UploadId }, cancellationToken), cancellationToken).ConfigureAwait(false);
                removed.Add($"unfinished multipart upload of {Relative(u.Key)} (begun {u.Initiated:u})");
            }
            if (page.IsTruncated != true)
            {
                break;
            }
            request.KeyMarker = page.NextKeyMarker;
            request.UploadIdMarker = page.NextUploadIdMarker;
        }
        return removed;
    }

    /// <summary>Runs <paramref name="call"/>, retrying it (with bounded exponential backoff, at most
    /// <see cref="S3Options.MaxRetries"/> times) while it fails for a transient reason (<see cref="S3Errors.IsTransient"/>);
    /// then turns the failure into a repository error that names the object, the status, the service's error code and
    /// what to do, and says whether it was retried. Cancellation passes through.</summary>
    private async Task<T> Guard<T>(string key, string what, Func<Task<T>> call, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        for (int retries = 0; ; retries++)
        {
            try
            {
                return await call().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException or IOException or TimeoutException
                || (ex is OperationCanceledException && !ct.IsCancellationRequested))
            {
                bool again = S3Errors.IsTransient(ex) && retries < _options.MaxRetries;
                if (!again)
                {
                    throw new RepositoryException(S3Errors.Describe(ex, $"{Location}/{key}", what, _bucket, _options.Endpoint ?? "AWS", retries, DateTime.UtcNow - started), ex);
                }
            }
            await Task.Delay(S3Errors.Backoff(retries + 1, _options.RetryBaseDelay, _options.MaxRetryDelay), ct).ConfigureAwait(false);
        }
    }

    private async Task Guard(string key, string what, Func<Task> call, CancellationToken ct) => await Guard(key, what, async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    }, ct).ConfigureAwait(false);

    public void Dispose() => _client.Dispose();

    /// <summary>Hands the SDK clients over a given handler (one per SDK client, kept for its life).</summary>
    private sealed class HandlerFactory(Func<HttpMessageHandler> handler, TimeSpan timeout) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(handler()) { Timeout = timeout };

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

        public override string? GetConfigUniqueString(IClientConfig clientConfig) => null;
    }
}
