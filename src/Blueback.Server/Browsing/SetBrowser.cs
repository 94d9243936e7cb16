using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Browsing;

/// <summary>How the console's browsing of backup sets is bounded ("browseIdleSeconds", "browseMaxOpen",
/// "browseCacheMaxBytes" in the config).</summary>
internal sealed record BrowseSettings(TimeSpan Idle, int MaxOpen, long CacheMaxBytes)
{
    public static readonly BrowseSettings Default = new(TimeSpan.FromMinutes(2), 2, 256L << 20);

    public static BrowseSettings Of(ServerConfig config) => new(
        config.BrowseIdleSeconds is { } s ? TimeSpan.FromSeconds(s) : Default.Idle,
        config.BrowseMaxOpen ?? Default.MaxOpen,
        config.BrowseCacheMaxBytes ?? Default.CacheMaxBytes);
}

/// <summary>The policies' sets opened for browsing: each mounted once (not restored) under DATA/.browse, kept open
/// between the console's requests and closed when idle, when more are wanted than the bound allows (the least recently
/// used first), when its set is no longer listed (forgotten) or its policy changes, and at shutdown.</summary>
internal sealed class SetBrowser : IDisposable
{
    /// <summary>The longest a set may take to mount (its logs read and replayed; images are not copied).</summary>
    public static readonly TimeSpan OpenBound = TimeSpan.FromMinutes(2);

    private readonly OpenMounts<(string Policy, string Set), BrowsedSet> _mounts;
    private readonly BrowseSettings _settings;
    private readonly ILogger _logger;
    private long _mounted;

    public SetBrowser(string dataDirectory, BrowseSettings settings, ILogger logger, TimeProvider? clock = null)
    {
        Root = Path.Combine(Path.GetFullPath(dataDirectory), ".browse");
        _settings = settings;
        _logger = logger;
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true); // a previous run's, left by a kill: nothing in it is kept
        }
        _mounts = new OpenMounts<(string, string), BrowsedSet>(settings.MaxOpen, settings.Idle, clock ?? TimeProvider.System,
            (key, ex) => _logger.LogWarning("Closing browsed set {Set} of policy {Policy} failed: {Message}; its scratch under {Root} goes at the next start.", key.Item2, key.Item1, ex.Message, Root));
    }

    /// <summary>Where the mounts' scratch directories are (DATA/.browse).</summary>
    public string Root { get; }

    public int Open => _mounts.Count;

    /// <summary>Sets mounted since the server started.</summary>
    public long Mounted => Interlocked.Read(ref _mounted);

    /// <summary>The set <paramref name="id"/> (whole, or a unique prefix of 8 or more) of policy <paramref name="p"/>,
    /// mounted now unless it is open already; the caller disposes the lease when its read is done.</summary>
    public async Task<OpenMounts<(string Policy, string Set), BrowsedSet>.Lease> AcquireAsync(PolicyDefinition p, string id, CancellationToken ct)
    {
        var full = id.Length == 32 && _mounts.Holds((p.Name, id)) ? id : await Policies.PolicyRepositories.ResolveAsync(p, id, ct).ConfigureAwait(false);
        return await _mounts.AcquireAsync((p.Name, full), async stop =>
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
            bound.CancelAfter(OpenBound);
            var scratch = Path.Combine(Root, $"{full[..8]}-{Guid.NewGuid():N}");
            try
            {
                var set = await BrowsedSet.OpenAsync(p, full, scratch, _settings.CacheMaxBytes, bound.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _mounted);
                _logger.LogInformation("Browsing set {Set} of policy {Policy}: mounted ({Describe}) in {Scratch}.", full, p.Name, set.Describe, scratch);
                return set;
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                throw new TimeoutException($"Mounting set {full} of policy '{p.Name}' for browsing took longer than {OpenBound.TotalSeconds:0} s (its logs are read and replayed from '{p.Repository.Location}'). Check that the repository is reachable and not slow, then open it again.");
            }
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Closes the policy's mounts of sets <paramref name="listed"/> does not hold (forgotten); all of them when
    /// null (the policy was removed or replaced).</summary>
    public void Retain(string policy, IReadOnlySet<string>? listed) =>
        _mounts.Retire(k => k.Policy == policy && (listed is null || !listed.Contains(k.Set)));

    /// <summary>Closes the mounts idle for the bound now (the sweep does it too, on its own).</summary>
    public int CloseIdle() => _mounts.CloseIdle();

    public void Dispose()
    {
        _mounts.Dispose();
        try
        {
            if (Directory.Exists(Root))
            {
                Directory.Delete(Root, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Could not remove the browse directory {Root}: {Message}; the next start removes it.", Root, ex.Message);
        }
    }
}
