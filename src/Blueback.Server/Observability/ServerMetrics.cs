using System.Diagnostics.Metrics;
using Blueback.Server.Instances;

namespace Blueback.Server.Observability;

/// <summary>The server's instruments (System.Diagnostics.Metrics). Engine counters are observed from the
/// instances at collection time; request counts are recorded as requests finish. PrometheusExporter serves them:
/// a unit is given only where the name already ends with it (its exporter would append it otherwise, and the
/// names are what dashboards use).</summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Blueback.Server";
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _requests;
    private readonly Counter<long> _authFailures;
    private long _backupBytes;

    public ServerMetrics(InstanceHost host)
    {
        _requests = _meter.CreateCounter<long>("blueback_requests", description: "HTTP requests served, by method, route and status.");
        _authFailures = _meter.CreateCounter<long>("blueback_auth_failures", description: "Requests refused for their token: missing, invalid (401) or of the wrong role (forbidden, 403).");
        _meter.CreateObservableCounter("blueback_commits", () => Each(host, i => i.Commits), description: "Committed write transactions.");
        _meter.CreateObservableCounter("blueback_log_flushes", () => Each(host, i => i.LogFlushes), description: "Log flushes (one fsync each; commits share them).");
        _meter.CreateObservableCounter("blueback_log_bytes_written", () => Each(host, i => i.LogBytesWritten), description: "Bytes written to the log.");
        _meter.CreateObservableCounter("blueback_cache_hits", () => Each(host, i => i.CacheHits), description: "Page reads served from the cache.");
        _meter.CreateObservableCounter("blueback_cache_misses", () => Each(host, i => i.CacheMisses), description: "Page reads that went to disk.");
        _meter.CreateObservableGauge("blueback_cache_size", () => Each(host, i => i.CacheBytes), description: "Bytes of page versions in the cache.");
        var shipping = new ScrapeSnapshot<List<(string Instance, Storage.Shipping.ShippingState State)>>(() => ShippingStates(host));
        _meter.CreateObservableGauge("blueback_shipping_lag_milliseconds", () => Shipped(shipping, s => (long)s.Lag.TotalMilliseconds), unit: "ms", description: "How long the oldest commit not yet in the shipping repository has waited (instances being shipped).");
        _meter.CreateObservableGauge("blueback_shipping_unshipped_generations", () => Shipped(shipping, s => s.UnshippedGenerations), description: "Closed log generations kept on the server until shipped.");
        _meter.CreateObservableGauge("blueback_shipping_unshipped_bytes", () => Shipped(shipping, s => s.UnshippedBytes), unit: "bytes", description: "Bytes of closed log generations kept until shipped.");
        _meter.CreateObservableGauge("blueback_shipping_shipped_through", () => Shipped(shipping, s => s.Mark.ShippedThrough), description: "The last log generation the shipping repository holds.");
        _meter.CreateObservableGauge("blueback_log_volume_free_bytes", () => Shipped(shipping, s => s.LogVolumeFreeBytes), unit: "bytes", description: "Free space on the log volume of instances being shipped.");
        _meter.CreateObservableCounter("blueback_backup_bytes", () => Interlocked.Read(ref _backupBytes), unit: "bytes", description: "Bytes streamed to backup clients.");
    }

    private static IEnumerable<Measurement<long>> Each(InstanceHost host, Func<Storage.StorageInstance, long> value)
    {
        foreach (var i in host.Instances)
        {
            yield return new Measurement<long>(value(i), new KeyValuePair<string, object?>("instance", i.Name));
        }
    }

    private static IEnumerable<Measurement<long>> Shipped(ScrapeSnapshot<List<(string Instance, Storage.Shipping.ShippingState State)>> shipping, Func<Storage.Shipping.ShippingState, long> value) =>
        shipping.Value.Select(s => new Measurement<long>(value(s.State), new KeyValuePair<string, object?>("instance", s.Instance)));

    /// <summary>Each shipped instance's state, read once for the five shipping gauges of a scrape.</summary>
    private static List<(string, Storage.Shipping.ShippingState)> ShippingStates(InstanceHost host)
    {
        var states = new List<(string, Storage.Shipping.ShippingState)>();
        foreach (var i in host.Instances)
        {
            try
            {
                if (i.ShippingNow() is { } state)
                {
                    states.Add((i.Name, state));
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or Storage.StorageException)
            {
                // an instance closing under the scrape: left out this time
            }
        }
        return states;
    }

    public void Request(string method, string route, int status) =>
        _requests.Add(1, new("method", method), new("route", route), new("status", status));

    public void AuthFailure(string reason) => _authFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void BackupBytes(long n) => Interlocked.Add(ref _backupBytes, n);

    /// <summary>Bytes streamed to backup clients since the server started.</summary>
    public long BackupBytesTotal => Interlocked.Read(ref _backupBytes);

    /// <summary>A mounted backup set's instruments (blueback mount): what reading it has fetched and what the cache saved.</summary>
    internal void AddMount(Func<Protocol.MountStatus> mount)
    {
        _meter.CreateObservableCounter("blueback_mount_fetched_bytes", () => mount().BytesFetched, unit: "bytes", description: "Stored bytes of the mounted set's chunks read from the repository.");
        _meter.CreateObservableCounter("blueback_mount_fetched_chunks", () => mount().ChunksFetched, description: "Chunks of the mounted set read from the repository (each checked, then cached).");
        _meter.CreateObservableCounter("blueback_mount_cache_hits", () => mount().CacheHits, description: "Reads of the mounted set's chunks the disk cache answered.");
        _meter.CreateObservableGauge("blueback_mount_cache_bytes", () => mount().CacheBytes, unit: "bytes", description: "Bytes of chunks in the mount's disk cache (bounded by --cache-max-bytes).");
    }

    /// <summary>The console's browsing of backup sets: sets open now, and mounts made since the server started.</summary>
    internal void AddBrowse(Browsing.SetBrowser browser)
    {
        _meter.CreateObservableGauge("blueback_browse_sets_open", () => browser.Open, description: "Backup sets mounted for the console's browsing now (at most browseMaxOpen).");
        _meter.CreateObservableCounter("blueback_browse_mounts", () => browser.Mounted, description: "Backup sets mounted for browsing since the server started (each closed when idle, forgotten or past the bound).");
    }

    /// <summary>How backups yield to the clients: the rate they may take together while the server is busy, and the
    /// clients' request time without them that the rate is judged against (<see cref="Backups.BackupPacing"/>).</summary>
    internal void AddPacing(Backups.BackupPacing pacing)
    {
        _meter.CreateObservableGauge("blueback_backup_busy_rate_bytes_per_second", () => pacing.BusyBytesPerSecond, description: "What backup streams may send together while the instance's clients are busy: it falls when their requests take longer or fewer of them end, between backupBusyFloorMBps and backupBusyRateMBps (0: no pacing).");
        _meter.CreateObservableGauge("blueback_backup_baseline_request_milliseconds", () => pacing.Baseline?.TotalMilliseconds ?? 0, unit: "ms", description: "The clients' mean request time with backups held, over the last three probes (0 before one).");
    }

    /// <summary>The policies' instruments: jobs ended by outcome, failures in a row, sets whose last proof failed.</summary>
    internal void AddPolicies(Policies.PolicyRunner runner)
    {
        _meter.CreateObservableCounter("blueback_policy_jobs", () => runner.Counts().Jobs.Select(j => new Measurement<long>(j.Count,
            new("policy", j.Key.Policy), new("kind", j.Key.Kind), new("state", j.Key.State))), description: "Policy jobs ended, by policy, kind and outcome.");
        _meter.CreateObservableGauge("blueback_policy_consecutive_failures", () => runner.Counts().Policies.Select(p => new Measurement<long>(p.Failures,
            new KeyValuePair<string, object?>("policy", p.Policy))), description: "Backups of the policy that failed in a row (0: the last one succeeded).");
        _meter.CreateObservableGauge("blueback_policy_failed_proofs", () => runner.Counts().Policies.Select(p => new Measurement<long>(p.FailedProofs,
            new KeyValuePair<string, object?>("policy", p.Policy))), description: "Sets in the policy's repository whose last proof failed (alert on anything above 0).");
    }

    public void Dispose() => _meter.Dispose();
}
