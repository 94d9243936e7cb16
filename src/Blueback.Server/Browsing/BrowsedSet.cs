using Blueback.Backup;
using Blueback.Backup.Mounting;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Storage;

namespace Blueback.Server.Browsing;

/// <summary>A policy's backup set mounted for browsing (<see cref="MountedSet"/>, as <c>blueback mount</c> serves one)
/// and its instance opened read-only over it, in a scratch directory of its own; disposing closes the instance, the
/// mount and the repository, and removes the scratch directory.</summary>
internal sealed class BrowsedSet : IDisposable
{
    private readonly IDisposable? _store;
    private readonly MountedSet _mounted;

    private BrowsedSet(IDisposable? store, MountedSet mounted, StorageInstance instance, Manifest set, string scratch)
    {
        _store = store;
        _mounted = mounted;
        Instance = instance;
        Set = set;
        Scratch = scratch;
    }

    public StorageInstance Instance { get; }
    public Manifest Set { get; }
    public string Scratch { get; }
    public string Describe => _mounted.Describe;
    public DateTime? LastCommit => _mounted.Report.LastCommitTime;
    public MountCounters Counters => _mounted.Counters;

    /// <summary>Mounts the set <paramref name="setId"/> (a whole id) of <paramref name="p"/>'s repository under
    /// <paramref name="scratch"/> (removed again if this fails), its chunk cache bounded by <paramref name="cacheMaxBytes"/>.</summary>
    public static async Task<BrowsedSet> OpenAsync(PolicyDefinition p, string setId, string scratch, long cacheMaxBytes, CancellationToken ct)
    {
        IDisposable? store = null;
        MountedSet? mounted = null;
        try
        {
            Directory.CreateDirectory(scratch);
            (store, var repo) = await Policies.PolicyRepositories.OpenAsync(p.Repository, ct).ConfigureAwait(false);
            var chain = await RestorePlanner.PlanAsync(repo, setId, p.Instance, stop: null, liveLogsFollow: false, ct).ConfigureAwait(false);
            mounted = await MountedSet.MountAsync(repo, chain, scratch, cacheMaxBytes, stop: null, progress: null, ct).ConfigureAwait(false);
            var instance = StorageInstance.Open(Path.Combine(mounted.DataDirectory, mounted.Instance), mounted.InstanceOptions());
            return new BrowsedSet(store, mounted, instance, chain[^1], scratch);
        }
        catch
        {
            mounted?.Dispose();
            store?.Dispose();
            RemoveScratch(scratch);
            throw;
        }
    }

    public void Dispose()
    {
        try
        {
            Instance.Dispose();
        }
        finally
        {
            _mounted.Dispose();
            _store?.Dispose();
            RemoveScratch(Scratch);
        }
    }

    /// <summary>Best effort: what is left (a file still open elsewhere) goes when the server next starts.</summary>
    private static void RemoveScratch(string scratch)
    {
        try
        {
            if (Directory.Exists(scratch))
            {
                Directory.Delete(scratch, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // left for the next start's sweep of the browse directory
        }
    }
}
