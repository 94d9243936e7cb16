using System.Net;
using Amazon.Runtime;
using Amazon.S3;

namespace Blueback.Repository.Stores;

/// <summary>What an S3 failure is: permanent (asking again gets the same answer: every 4xx but throttling and
/// request timeouts) or transient (5xx, 503 SlowDown, 429, timeouts, a refused or dropped connection), and the
/// message that names the object, the status, the service's error code and what to do.</summary>
internal static class S3Errors
{
    /// <summary>True when asking again may succeed: 5xx, throttling (503 SlowDown, 429, a Throttling or SlowDown
    /// code), a request timeout (408, 400 RequestTimeout), or no answer at all (timeout, connection refused or
    /// dropped). Every other 4xx is permanent.</summary>
    public static bool IsTransient(Exception ex)
    {
        if (ex is AmazonServiceException { StatusCode: not 0 } service && !IsNetwork(ex))
        {
            int status = (int)service.StatusCode;
            return status >= 500 || status is 408 or 429 || IsThrottle(service.ErrorCode) || service.ErrorCode is "RequestTimeout";
        }
        if (ex is AmazonClientException && !IsNetwork(ex) && ex.InnerException is not (TimeoutException or OperationCanceledException))
        {
            return false; // the client's own refusal: no credentials, a setting it cannot use
        }
        return ex is AmazonClientException or AmazonServiceException or HttpRequestException or IOException or TimeoutException or OperationCanceledException
            || IsNetwork(ex);
    }

    private static bool IsThrottle(string? code) => code is "SlowDown" or "Throttling" or "ThrottlingException" or "RequestThrottled" or "TooManyRequests";

    /// <summary>The message for a failure of <paramref name="what"/> on <paramref name="objectName"/> (the repository's
    /// URL and key), after <paramref name="retries"/> retries over <paramref name="spent"/>.</summary>
    public static string Describe(Exception ex, string objectName, string what, string bucket, string endpoint, int retries, TimeSpan spent)
    {
        var retried = retries == 0 ? "" : $" (retried {retries} time(s) over {spent.TotalSeconds:0.#} s with backoff)";
        if (ex is AmazonServiceException { StatusCode: not 0 } service && !IsNetwork(ex))
        {
            var status = $"HTTP {(int)service.StatusCode} {Code(service)}";
            var said = string.IsNullOrWhiteSpace(service.Message) ? "" : $": {service.Message.Trim().TrimEnd('.')}";
            if (IsTransient(ex))
            {
                return $"'{objectName}': could not {what} it: {status} from {endpoint}{said}{retried}. The service is overloaded or failing: run the command again later, or lower --parallel.";
            }
            return $"'{objectName}': could not {what} it: {status} from {endpoint}{said}; not retried, as the service would refuse it again. {Remedy(service, bucket, endpoint)}";
        }
        if (!IsTransient(ex))
        {
            return $"'{objectName}': could not {what} it: {ex.Message.Trim().TrimEnd('.')}. Check the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and the S3 settings (--s3-endpoint, --s3-region).";
        }
        return $"'{objectName}': could not {what} it: {Innermost(ex).Message.Trim().TrimEnd('.')}{retried}. Is the store at {endpoint} reachable? Check --s3-endpoint and the network, then run the command again.";
    }

    private static string Code(AmazonServiceException ex) => string.IsNullOrEmpty(ex.ErrorCode) ? ex.StatusCode.ToString() : ex.ErrorCode;

    /// <summary>What to do about a permanent failure, by the service's error code, then by its status.</summary>
    private static string Remedy(AmazonServiceException ex, string bucket, string endpoint) => (ex.ErrorCode, ex.StatusCode) switch
    {
        ("NoSuchBucket", _) => $"Bucket '{bucket}' does not exist at {endpoint}: create it (aws s3 mb s3://{bucket}, or the service's console), or check --repo and --s3-endpoint.",
        _ when IsChecksumRefused(ex) =>
            "The service does not accept the AWS SDK's request checksums: use --s3-checksums when-required (the default; check that $BLUEBACK_S3_CHECKSUMS and $AWS_REQUEST_CHECKSUM_CALCULATION do not say when-supported).",
        ("BadDigest" or "InvalidDigest", _) => "The bytes did not match their Content-MD5 on the way: check the network or any proxy in between, then run the command again.",
        ("SignatureDoesNotMatch", _) => "The request's signature was refused: check AWS_SECRET_ACCESS_KEY, --s3-region and the machine's clock; behind a proxy, that it keeps the Host header.",
        ("InvalidAccessKeyId", _) => "The access key is unknown to the service: check AWS_ACCESS_KEY_ID (or AWS_PROFILE) and --s3-endpoint.",
        ("RequestTimeTooSkewed", _) => "The machine's clock is too far from the service's: set the clock (NTP), then run the command again.",
        ("EntityTooSmall" or "InvalidPart" or "InvalidPartOrder" or "EntityTooLarge", _) => "The service refused the multipart upload's parts: give --s3-part-size within its limits (8M suits most).",
        ("PermanentRedirect" or "AuthorizationHeaderMalformed" or "IllegalLocationConstraintException", _) => $"The bucket '{bucket}' is in another region or needs another address: check --s3-region and --s3-path-style.",
        ("InvalidBucketName", _) => $"The service refuses the bucket name '{bucket}': check --repo.",
        ("NoSuchKey", _) or (_, HttpStatusCode.NotFound) => "The object is missing from the repository: run 'blueback verify' to see what it affects.",
        (_, HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized) => "Access denied: check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and the bucket's policy.",
        (_, HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented) => $"The service at {endpoint} does not implement this call: see docs/repository.md for the S3-compatible services tested and the settings each needs.",
        _ => "Check the S3 settings (--s3-endpoint, --s3-region, --s3-path-style, --s3-checksums) against what the service supports (docs/repository.md).",
    };

    private static bool IsChecksumRefused(AmazonServiceException ex) =>
        ex.ErrorCode is "XAmzContentSHA256Mismatch" or "InvalidChecksum" or "BadChecksum"
        || (ex.ErrorCode is "InvalidArgument" or "InvalidRequest" or "NotImplemented" && ex.Message?.Contains("hecksum", StringComparison.Ordinal) == true);

    private static bool IsNetwork(Exception ex)
    {
        for (var e = ex.InnerException; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
            {
                return true;
            }
        }
        return false;
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }
        return ex;
    }

    /// <summary>The wait before retry <paramref name="attempt"/> (1 for the first): the base doubled each time,
    /// capped, with half of it random so that parallel transfers do not retry in step.</summary>
    public static TimeSpan Backoff(int attempt, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        double ms = Math.Min(maxDelay.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
        return TimeSpan.FromMilliseconds(ms / 2 + (Random.Shared.NextDouble() * ms / 2));
    }
}
