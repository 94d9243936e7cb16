using System.Net;
using System.Security.Cryptography;
using System.Text;
using Blueback.Repository;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>How the S3 store classifies a service's answers, against a canned HTTP handler in process (no server):
/// every 4xx permanent, asked once, its message naming the object, the status, the code and the remedy; 5xx,
/// 503 SlowDown and a refused connection retried with backoff and said so; and what goes on the wire by default
/// (no trailing aws-chunked checksum, which Ceph RGW 16.2 refuses; Content-MD5 always).</summary>
public class S3ErrorTests
{
    public S3ErrorTests()
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "test");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "test");
    }

    /// <summary>Answers each request with the next canned answer (the last repeats) and records what came.</summary>
    private sealed class Canned(params Func<HttpRequestMessage, byte[], HttpResponseMessage>[] answers) : HttpMessageHandler
    {
        public List<(HttpMethod Method, string Url, Dictionary<string, string> Headers)> Seen { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
            var headers = request.Headers.Concat(request.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>())
                .ToDictionary(h => h.Key.ToUpperInvariant(), h => string.Join(",", h.Value), StringComparer.Ordinal);
            lock (Seen)
            {
                Seen.Add((request.Method, request.RequestUri!.ToString(), headers));
                return answers[Math.Min(Seen.Count - 1, answers.Length - 1)](request, body);
            }
        }
    }

    private static HttpResponseMessage Error(int status, string code, string message = "") => new((HttpStatusCode)status)
    {
        Content = new StringContent($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>r1</RequestId></Error>", Encoding.UTF8, "application/xml"),
    };

    private static HttpResponseMessage Ok(HttpRequestMessage request, byte[] body)
    {
        // Over plain HTTP the SDK signs the body in aws-chunked frames (what RGW accepts), so the MD5 is the header's.
        var md5 = request.Content?.Headers.ContentMD5 ?? MD5.HashData(body);
        var r = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        r.Headers.ETag = new System.Net.Http.Headers.EntityTagHeaderValue($"\"{Convert.ToHexStringLower(md5)}\"");
        return r;
    }

    private static S3Store Store(Canned handler, int retries = 3) => new("s3://bucket/repo", new S3Options
    {
        Endpoint = "http://s3.test",
        PathStyle = true,
        MaxRetries = retries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        MaxRetryDelay = TimeSpan.FromMilliseconds(5),
        HttpHandler = () => handler,
    });

    [Fact]
    public async Task A_checksum_mismatch_is_asked_once_and_names_the_object_status_code_and_the_setting_to_change()
    {
        var handler = new Canned((_, _) => Error(400, "XAmzContentSHA256Mismatch"));
        using var store = Store(handler);
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => store.WriteAsync("config.json", "{}"u8.ToArray(), default));
        Assert.Single(handler.Seen);
        Assert.Contains("s3://bucket/repo/config.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 400 XAmzContentSHA256Mismatch", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--s3-checksums when-required", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not retried", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(":  ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(400, "InvalidRequest", "S3 settings")]
    [InlineData(401, "Unauthorized", "credentials")]
    [InlineData(403, "AccessDenied", "credentials")]
    [InlineData(403, "SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY")]
    [InlineData(403, "InvalidAccessKeyId", "AWS_ACCESS_KEY_ID")]
    [InlineData(404, "NoSuchBucket", "create it")]
    [InlineData(404, "NoSuchKey", "blueback verify")]
    [InlineData(405, "MethodNotAllowed", "does not implement")]
    [InlineData(409, "BucketAlreadyExists", "S3 settings")]
    [InlineData(411, "MissingContentLength", "S3 settings")]
    [InlineData(413, "EntityTooLarge", "--s3-part-size")]
    [InlineData(400, "EntityTooSmall", "--s3-part-size")]
    [InlineData(400, "BadDigest", "network")]
    [InlineData(416, "InvalidRange", "S3 settings")]
    public async Task Every_4xx_is_permanent_asked_once_with_the_status_code_and_a_remedy(int status, string code, string remedy)
    {
        var handler = new Canned((_, _) => Error(status, code, "refused"));
        using var store = Store(handler);
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => store.ReadAsync("sets/a/manifest.json", default));
        Assert.Single(handler.Seen);
        Assert.Contains("s3://bucket/repo/sets/a/manifest.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"HTTP {status} {code}", ex.Message, StringComparison.Ordinal);
        Assert.Contains(remedy, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("retried", ex.Message.Replace("not retried", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(503, "SlowDown")]
    [InlineData(500, "InternalError")]
    [InlineData(502, "BadGateway")]
    [InlineData(429, "TooManyRequests")]
    [InlineData(400, "RequestTimeout")]
    public async Task Throttling_5xx_and_timeouts_are_retried_and_then_succeed(int status, string code)
    {
        var handler = new Canned((_, _) => Error(status, code), (_, _) => Error(status, code), Ok);
        using var store = Store(handler);
        await store.WriteAsync("chunks/ab/abcd", new byte[100], default);
        Assert.Equal(3, handler.Seen.Count);
    }

    [Fact]
    public async Task A_5xx_that_lasts_fails_after_the_bounded_retries_and_says_it_retried()
    {
        var handler = new Canned((_, _) => Error(503, "SlowDown", "Please reduce your request rate."));
        using var store = Store(handler, retries: 2);
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => store.WriteAsync("chunks/ab/abcd", new byte[100], default));
        Assert.Equal(3, handler.Seen.Count);
        Assert.Contains("HTTP 503 SlowDown", ex.Message, StringComparison.Ordinal);
        Assert.Contains("retried 2 time(s)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("chunks/ab/abcd", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_connection_is_retried_and_then_named_unreachable()
    {
        var handler = new Canned((_, _) => throw new HttpRequestException("Connection refused (s3.test:80)", new System.Net.Sockets.SocketException(111)));
        using var store = Store(handler, retries: 2);
        var ex = await Assert.ThrowsAsync<RepositoryException>(() => store.ReadAsync("config.json", default));
        Assert.Equal(3, handler.Seen.Count);
        Assert.Contains("reachable", ex.Message, StringComparison.Ordinal);
        Assert.Contains("retried 2 time(s)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task By_default_an_upload_carries_its_Content_MD5_and_no_trailing_aws_chunked_checksum()
    {
        var handler = new Canned(Ok);
        using var store = new S3Store("s3://bucket/repo", RepositoryStores.Resolve(new S3Settings(Endpoint: "http://s3.test", Checksums: null)) with { HttpHandler = () => handler });
        await store.WriteAsync("config.json", new byte[1000], default);
        var (method, url, headers) = Assert.Single(handler.Seen);
        Assert.Equal(HttpMethod.Put, method);
        Assert.StartsWith("http://s3.test/bucket/repo/config.json", url, StringComparison.Ordinal); // path style with an endpoint
        Assert.True(headers.ContainsKey("CONTENT-MD5"));
        Assert.False(headers.ContainsKey("X-AMZ-TRAILER"), string.Join(", ", headers.Keys));
        Assert.DoesNotContain("TRAILER", headers.GetValueOrDefault("X-AMZ-CONTENT-SHA256") ?? "", StringComparison.Ordinal);
        Assert.False(headers.Keys.Any(k => k.StartsWith("X-AMZ-CHECKSUM", StringComparison.Ordinal)), string.Join(", ", headers.Keys));
    }

    [Fact]
    public void The_settings_resolve_to_defaults_for_S3_compatible_services_and_each_can_be_overridden()
    {
        var d = RepositoryStores.Resolve(new S3Settings(Endpoint: "http://rgw:7480", Checksums: "when-required", PartSize: "8M", PathStyle: null));
        Assert.Equal(S3Checksums.WhenRequired, d.Checksums);
        Assert.True(d.PathStyle);
        Assert.Equal(8 << 20, d.PartSize);
        Assert.Equal(16 << 20, d.MultipartThreshold);
        var o = RepositoryStores.Resolve(new S3Settings(Endpoint: "http://rgw:7480", PathStyle: false, Checksums: "WHEN_SUPPORTED", PartSize: "64MiB"));
        Assert.Equal(S3Checksums.WhenSupported, o.Checksums);
        Assert.False(o.PathStyle);
        Assert.Equal(64 << 20, o.PartSize);
        Assert.Equal(128L << 20, o.MultipartThreshold);
        var bad = Assert.Throws<RepositoryException>(() => RepositoryStores.Resolve(new S3Settings(PartSize: "1M")));
        Assert.Contains("--s3-part-size", bad.Message, StringComparison.Ordinal);
        var mode = Assert.Throws<RepositoryException>(() => RepositoryStores.Resolve(new S3Settings(Checksums: "sometimes")));
        Assert.Contains("when-required", mode.Message, StringComparison.Ordinal);
    }
}
