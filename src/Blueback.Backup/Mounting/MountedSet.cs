using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Restore;

namespace Blueback.Backup.Mounting;

/// <summary>A backup set made readable without restoring it (<c>blueback mount</c>): the chain's logs are copied into a
/// scratch instance directory and replayed by hard recovery, as a restore does, but each database image stays in the
/// repository; its pages are fetched chunk by chunk as they are read, and the pages replay changes live in an
/// overlay. What remains open is the instance's options for serving it: read-only, over those images.</summary>
public sealed class MountedSet : IDisposable
{
    private MountedSet(string dataDirectory, string instance, string describe, ChunkCache cache, MountedImages images, HardRecoveryReport report)
    {
        DataDirectory = dataDirectory;
        Instance = instance;
        Describe = describe;
        Cache = cache;
        Images = images;
        Report = report;
    }

    /// <summary>Where the instance's directory is (DATA/NAME): its logs, checkpoint and restore record.</summary>
    public string DataDirectory { get; }
    public string Instance { get; }

    /// <summary>The set in words, for messages and refusals: "full set ID + 2 shipped generation(s) 5-6".</summary>
    public string Describe { get; }
    public ChunkCache Cache { get; }
    public MountCounters Counters => Cache.Counters;
    public MountedImages Images { get; }
    public HardRecoveryReport Report { get; }

    /// <summary>How the instance is opened to serve the set: through the images, refusing writes.</summary>
    public InstanceOptions InstanceOptions(InstanceOptions? basis = null) => OptionsOf(Instance, Describe, Images, basis);

    private static InstanceOptions OptionsOf(string instance, string describe, MountedImages images, InstanceOptions? basis = null) =>
        (basis ?? new InstanceOptions()) with { Name = instance, PageStores = images, MountedSet = describe, SummarizeInBackground = false };

    /// <summary>Mounts <paramref name="chain"/> (planned as a restore plans it) under <paramref name="scratch"/>: chunks in
    /// SCRATCH/chunks (at most <paramref name="cacheMaxBytes"/>), overlays in SCRATCH/overlay, the instance in
    /// SCRATCH/data/NAME. Reads and checks every log generation the chain needs and replays it (to the stop point, if
    /// one is given); fetches of the images only what replay touches, and of a changed-pages set its pages (whole, into
    /// the overlay).</summary>
    public static async Task<MountedSet> MountAsync(BackupRepository repo, List<Manifest> chain, string scratch, long cacheMaxBytes, RecoveryStop? stop,
        IProgress<RestoreProgress>? progress, CancellationToken ct)
    {
        var plan = RestoreJob.PagePlan.Of(chain);
        var counters = new MountCounters();
        var cache = new ChunkCache(Path.Combine(scratch, "chunks"), cacheMaxBytes, counters);
        var images = new MountedImages();
        try
        {
            var instance = chain[0].Instance;
            var data = Path.Combine(scratch, "data");
            var dir = Path.Combine(data, instance);
            var overlays = Directory.CreateDirectory(Path.Combine(scratch, "overlay")).FullName;
            // The whole images are read where they lie; the changed pages of later sets (fetched whole, they are what
            // changed) go into each image's overlay as the restore lays them, before the logs are replayed.
            foreach (var (set, file) in plan.Files.Where(f => !SetLayout.IsChangedPages(f.File)))
            {
                var name = SetLayout.DatabaseName(file);
                int pageSize = chain[plan.Last].Databases.First(d => d.Name == name).PageSize;
                images.Add(new MountedImage(Path.Combine(dir, name + StorageInstance.DatabaseExtension), set, file, pageSize, cache, Path.Combine(overlays, name + ".pages"),
                    (chunk, token) => SetVerifier.ReadChunkAsync(repo, set, file, chunk, token)));
            }
            var describe = RestorePlanner.Describe(chain) + (stop is null ? "" : $", stopped at {stop}");
            var options = OptionsOf(instance, describe, images);
            var sink = new DirectoryRestoreSink(dir, instance, replace: false, (phase, token) => HardRecovery.Run(dir, options, phase, token), mountedImages: images);
            RestoreResult result;
            await using (sink.ConfigureAwait(false))
            {
                result = await RestoreJob.RunAsync(repo, chain, sink, new RestoreOptions(stop), progress, ct).ConfigureAwait(false);
            }
            return new MountedSet(data, instance, describe, cache, images, result.Report);
        }
        catch
        {
            images.Dispose();
            cache.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Cache.Dispose();
        Images.Dispose();
    }
}
