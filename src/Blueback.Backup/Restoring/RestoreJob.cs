using System.Diagnostics;
using Blueback.Repository;
using Blueback.Storage.Format;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

/// <summary>What to restore beyond the chain: where replay stops and whether it plays forward; <see cref="Database"/>
/// restores that database alone (a granular restore: replay skips the records of the others).</summary>
public sealed record RestoreOptions(RecoveryStop? Stop = null, bool PlayForward = true, bool UpToContiguous = false, string? Database = null);

/// <summary>A restore's progress: bytes written of the total (with the file being written), or a phase of hard
/// recovery (<see cref="Phase"/> set).</summary>
public sealed record RestoreProgress(string? File, long Done, long Total, string? Phase);

/// <summary>What a restore did: where, hard recovery's report, bytes written and time taken.</summary>
public sealed record RestoreResult(string Directory, HardRecoveryReport Report, long Bytes, double Seconds, bool AlreadyDone)
{
    /// <summary>A delta restore's work on each database file; null for a whole restore.</summary>
    public IReadOnlyList<DeltaReport>? Delta { get; init; }

    /// <summary>Bytes handed to the sink: for an online restore, what crossed the network (chunk frames, compressed
    /// as stored, where the server takes them; else the files' bytes).</summary>
    public long WireBytes { get; init; }
}

/// <summary>A restore: the chain's files read and checked (every chunk's CRC32C, each file's SHA-256) on their way to
/// a sink (an instance directory offline, or a server's restore session), then hard recovery. Offline and online
/// restores take this same path up to the last step.</summary>
public static class RestoreJob
{
    /// <summary>Restores <paramref name="chain"/> into DATA/NAME and recovers it, offline; a directory that already
    /// holds this very restore, recovered, is left as it is.</summary>
    public static async Task<RestoreResult> ToDirectoryAsync(BackupRepository repo, List<Manifest> chain, string dataDirectory, string name, bool replace,
        RestoreOptions options, IProgress<RestoreProgress>? progress, CancellationToken ct, bool delta = false)
    {
        var dir = Path.GetFullPath(Path.Combine(dataDirectory, name));
        if (RestoreRecord.Read(dir) is { Status: RestoreStatus.Done } done && done.Sets.SequenceEqual(chain.Select(s => s.SetId)) && done.Stop == options.Stop?.ToString())
        {
            var end = Lsn.TryParse(done.End ?? "", out var e) ? e : default;
            return new RestoreResult(dir, new HardRecoveryReport(default, end, done.TransactionsReplayed, 0, false, done.EndReason, done.LastCommitTime, done.SetAside), 0, 0, AlreadyDone: true);
        }
        var sink = new DirectoryRestoreSink(dir, name, replace, deltaPageSizes: delta ? chain[0].Databases.ToDictionary(d => d.Name, d => d.PageSize, StringComparer.Ordinal) : null);
        await using (sink.ConfigureAwait(false))
        {
            var result = await RunAsync(repo, chain, sink, options, progress, ct).ConfigureAwait(false);
            return delta ? result with { Delta = sink.Deltas } : result;
        }
    }

    /// <summary>The restore itself, wherever it writes: the record, every file checked on the way, then recovery.</summary>
    public static async Task<RestoreResult> RunAsync(BackupRepository repo, List<Manifest> chain, IRestoreSink sink, RestoreOptions options,
        IProgress<RestoreProgress>? progress, CancellationToken ct)
    {
        var full = chain[0];
        if (chain.FirstOrDefault(s => s.LogSignature != full.LogSignature) is { } foreign)
        {
            throw new RestorePlanException($"set {foreign.SetId} is of log stream {foreign.LogSignature}, set {full.SetId} of {full.LogSignature}: they come from different instances and cannot be restored together.");
        }
        var clock = Stopwatch.StartNew();
        var plan = PagePlan.Of(chain, options.Database);
        // Replay starts at the last set that holds pages (the full set, or the last changed-pages set laid over it).
        var pagesFrom = chain[plan.Last];
        var bytes = new ByteCount(progress, plan.Files.Sum(f => f.File.Size) + chain.Skip(plan.Last).Sum(s => SetLayout.LogFilesOf(s).Sum(f => f.Size)));
        var record = new RestoreRecord
        {
            Repository = repo.Store.Location,
            Sets = chain.Select(s => s.SetId).ToList(),
            SourceInstance = full.Instance,
            SourceServer = full.Server,
            GenLow = pagesFrom.GenLow,
            GenHigh = chain.Max(s => s.GenHigh),
            ConsistentAfter = pagesFrom.GenHigh,
            Stop = options.Stop?.ToString(),
            PlayForward = options.PlayForward,
            UpToContiguous = options.UpToContiguous,
            Created = DateTime.UtcNow,
        };
        bytes.Phase($"restoring {RestorePlanner.Describe(chain)} ({bytes.Total / 1048576.0:0.0} MiB) into {sink.Where}");
        await sink.BeginAsync(record, ct).ConfigureAwait(false); // from here an interruption is visible, and the instance will not open
        try
        {
            await WriteFilesAsync(repo, chain, plan, sink, bytes, ct).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await sink.FailAsync(ex is OperationCanceledException ? "stopped by the operator while files were being written" : ex.Message).ConfigureAwait(false);
            throw;
        }
        var report = await sink.RecoverAsync(bytes.Phase, ct).ConfigureAwait(false);
        return new RestoreResult(sink.Where, report, bytes.Total, clock.Elapsed.TotalSeconds, AlreadyDone: false) { WireBytes = bytes.Wire };
    }

    /// <summary>Each database's newest whole image and the changed pages laid over it, then the logs from the last set
    /// that holds pages on, each file checked (chunk CRC32C, file digest) on the way.</summary>
    private static async Task WriteFilesAsync(BackupRepository repo, List<Manifest> chain, PagePlan plan, IRestoreSink sink, ByteCount bytes, CancellationToken ct)
    {
        foreach (var (set, f) in plan.Files)
        {
            var name = SetLayout.DatabaseName(f);
            if (SetLayout.IsChangedPages(f))
            {
                await sink.ApplyChangedPagesAsync(name, f, Copy(repo, set, f, bytes, sink), ct).ConfigureAwait(false);
            }
            else
            {
                await sink.WriteDatabaseAsync(name, f, Copy(repo, set, f, bytes, sink), ct).ConfigureAwait(false);
            }
        }
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in chain.Skip(plan.Last))
        {
            foreach (var f in SetLayout.LogFilesOf(s))
            {
                if (!written.Add(f.Path))
                {
                    continue; // an overlapping generation, already written from an earlier set of the chain
                }
                if (!SetLayout.TryLogGeneration(f, out uint generation))
                {
                    throw new RestorePlanException($"set {s.SetId} holds '{f.Path}', which is not named as a log generation. Run 'blueback verify --set {s.SetId}'.");
                }
                if (!await sink.WriteLogAsync(generation, f, Copy(repo, s, f, bytes, sink), ct).ConfigureAwait(false))
                {
                    bytes.Add(f.Path, f.Size, f.Size);
                }
            }
        }
    }

    /// <summary>Which database files a chain's restore writes, in order: for each database of the last set that holds
    /// pages, the newest whole image up to it, then every later set's changed pages of that database. Log-only sets
    /// before that last set add nothing: its pages already hold their changes.</summary>
    internal sealed record PagePlan(int Last, IReadOnlyList<(Manifest Set, ManifestFile File)> Files)
    {
        public static PagePlan Of(List<Manifest> chain, string? only = null)
        {
            int last = chain.FindLastIndex(ChainResolver.HoldsPages);
            if (last < 0 || !SetLayout.Images(chain[0]).Any())
            {
                throw new RestorePlanException($"set {chain[0].SetId} holds no database image.");
            }
            var files = new List<(Manifest, ManifestFile)>();
            foreach (var db in chain[last].Databases.Where(d => only is null || d.Name == only))
            {
                int image = -1;
                for (int i = last; i >= 0 && image < 0; i--)
                {
                    image = SetLayout.Images(chain[i]).Any(f => SetLayout.DatabaseName(f) == db.Name) ? i : -1;
                }
                if (image < 0)
                {
                    throw new RestorePlanException($"database '{db.Name}' has no whole image in the chain up to set {chain[last].SetId}: it cannot be restored from these sets. Run 'blueback verify' on them.");
                }
                files.Add((chain[image], SetLayout.Images(chain[image]).First(f => SetLayout.DatabaseName(f) == db.Name)));
                for (int i = image + 1; i <= last; i++)
                {
                    if (!ChainResolver.IsPageSet(chain[i]))
                    {
                        continue;
                    }
                    var pages = SetLayout.ChangedPagesOf(chain[i]).FirstOrDefault(f => SetLayout.DatabaseName(f) == db.Name)
                        ?? throw new RestorePlanException($"changed-pages set {chain[i].SetId} holds neither the changed pages nor the image of database '{db.Name}': the chain cannot be composed. Run 'blueback verify' on it.");
                    files.Add((chain[i], pages));
                }
            }
            return new PagePlan(last, files);
        }
    }

    /// <summary>How a file's content reaches the sink: its chunks forwarded as stored (chunk frames) where the sink
    /// takes them, else its bytes, each chunk checked and decompressed here.</summary>
    private static Func<Stream, CancellationToken, Task> Copy(BackupRepository repo, Manifest set, ManifestFile f, ByteCount bytes, IRestoreSink sink) =>
        ChunkFrameCopy.Applies(sink, f)
            ? (destination, ct) => ChunkFrameCopy.WriteAsync(repo, set, f, destination, ct, done => bytes.Add(f.Path, done, f.Size), bytes.AddWire)
            : async (destination, ct) =>
            {
                await SetVerifier.ExtractAsync(repo, set, f, destination, ct, done => bytes.Add(f.Path, done, f.Size), ExistingCopyTarget.Of(destination)).ConfigureAwait(false);
                bytes.AddWire(f.Size);
            };

    /// <summary>Bytes written of the total, from each file's running count.</summary>
    private sealed class ByteCount(IProgress<RestoreProgress>? progress, long total)
    {
        private long _bytes;
        private long _fileDone;

        public long Total => total;

        /// <summary>Bytes handed to the sink (see <see cref="RestoreResult.WireBytes"/>).</summary>
        public long Wire { get; private set; }

        public void AddWire(long n) => Wire += n;

        public void Add(string file, long done, long size)
        {
            _bytes += done - _fileDone;
            _fileDone = done == size ? 0 : done;
            progress?.Report(new RestoreProgress(file, _bytes, total, null));
        }

        public void Phase(string what) => progress?.Report(new RestoreProgress(null, _bytes, total, what));
    }
}
