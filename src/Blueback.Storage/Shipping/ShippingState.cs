namespace Blueback.Storage.Shipping;

/// <summary>Log shipping as the instance sees it now: the mark, what is not shipped yet, how old its oldest commit
/// is, and how much room the log volume has left.</summary>
public sealed record ShippingState(
    ShippingMark Mark,
    uint CompleteThrough,
    uint? OldestUnshipped,
    int UnshippedGenerations,
    long UnshippedBytes,
    TimeSpan Lag,
    long LogVolumeFreeBytes,
    long LogVolumeBytes)
{
    /// <summary>The unshipped logs would fill what is left of the log volume within this share of it: time to look.</summary>
    public string? Warning =>
        LogVolumeBytes > 0 && LogVolumeFreeBytes < LogVolumeBytes / 10
            ? $"the log volume has {LogVolumeFreeBytes / 1048576} MiB free ({100.0 * LogVolumeFreeBytes / LogVolumeBytes:0.#}%), and {UnshippedGenerations} generation(s) ({UnshippedBytes / 1048576} MiB) wait to be shipped: restart 'blueback ship' or make room before the log volume fills and commits stop"
            : UnshippedBytes > 0 && UnshippedBytes > LogVolumeFreeBytes / 2
                ? $"{UnshippedBytes / 1048576} MiB of unshipped logs, more than half the {LogVolumeFreeBytes / 1048576} MiB free on the log volume: is 'blueback ship' running?"
                : null;
}

/// <summary>Generations complete and durable on the server, ready to ship.</summary>
/// <param name="CompleteThrough">Every generation up to this one is closed and on disk.</param>
/// <param name="Cover">When the server closed the current generation for the shipper: every commit acknowledged
/// before this time is in a generation up to <paramref name="CompleteThrough"/> (null when it did not close one).</param>
public sealed record ShippableLogs(uint CompleteThrough, DateTime? Cover);
