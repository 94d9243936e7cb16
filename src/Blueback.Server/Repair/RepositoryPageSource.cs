using Blueback.Backup;
using Blueback.Repository;
using Blueback.Storage.Format;
using Blueback.Storage.Repair;

namespace Blueback.Server.Repair;

/// <summary>A page repair source that is a backup repository (blueback serve --repair-from REPO): the newest committed
/// set of the instance's log stream holding a whole image of the page's database (same database signature) gives the
/// page, read from the one chunk (or two) holding it and checked (the chunk, then the page's own checksum); the set's
/// log generations, and those of the stream's later sets and shipped generations that follow without a gap, are
/// replayed onto it, so the image is returned as of the end of the last of them and the engine replays the instance's
/// own log from the next generation. Every attempt goes to the server's <see cref="PageRepairLog"/>.</summary>
internal sealed class RepositoryPageSource : IPageRepairSource, IDisposable
{
    private readonly Func<CancellationToken, Task<BackupRepository>> _open;
    private readonly PageRepairLog _log;
    private readonly SemaphoreSlim _opening = new(1, 1);
    private BackupRepository? _repository;

    /// <param name="location">The repository's location as given (for messages).</param>
    /// <param name="open">Opens it (its store, S3 settings and key); called at the first repair, again after a failure.</param>
    public RepositoryPageSource(string location, Func<CancellationToken, Task<BackupRepository>> open, PageRepairLog log)
    {
        Name = $"repository {location}";
        _open = open;
        _log = log;
    }

    public string Name { get; }

    public PageRepairImage? Fetch(PageRepairRequest request, CancellationToken cancellationToken) =>
        // The engine asks on the reading thread; the repository is async. The engine's token bounds the whole fetch.
        Task.Run(() => FetchAsync(request, cancellationToken), cancellationToken).GetAwaiter().GetResult();

    public void Report(PageRepairReport report) => _log.Report(report);

    internal async Task<PageRepairImage> FetchAsync(PageRepairRequest request, CancellationToken ct)
    {
        var repo = await RepositoryAsync(ct).ConfigureAwait(false);
        var logSignature = request.LogSignature.Id.ToString("N");
        var databaseSignature = request.DatabaseSignature.Id.ToString("N");
        var image = SetLayout.DatabasePath(request.Database);
        var stream = (await repo.ListSetsAsync(ct).ConfigureAwait(false)).Where(m => m.Instance == request.Instance && m.LogSignature == logSignature).ToList();
        var set = stream
            .Where(m => m.Databases.Any(d => d.Name == request.Database && d.Signature == databaseSignature) && m.Files.Any(f => f.Path == image))
            .OrderByDescending(m => m.GenHigh).ThenByDescending(m => m.Ended).FirstOrDefault()
            ?? throw new RepositoryException($"{Name} holds no committed set of instance {request.Instance} with a whole image of database '{request.Database}' of this log stream and database ({stream.Count} set(s) of the stream): take a full backup into it.");
        var database = set.Databases.First(d => d.Name == request.Database);
        if (database.PageSize != request.PageSize)
        {
            throw new RepositoryException($"set {set.SetId} of {Name} holds database '{request.Database}' with pages of {database.PageSize} bytes, not {request.PageSize}: it is not a copy of this database.");
        }
        var file = set.Files.First(f => f.Path == image);
        long offset = (long)request.Page * request.PageSize;
        if (offset + request.PageSize > file.Size)
        {
            throw new RepositoryException($"page {request.Page} of database '{request.Database}' is past the end of its image in set {set.SetId} of {Name} ({file.Size / request.PageSize} pages): the database grew after that set, which cannot repair it; take a full backup, or restore the database.");
        }
        var range = await SetRangeReader.ReadAsync(repo, set, file, offset, request.PageSize, ct).ConfigureAwait(false);
        var page = range.Data;
        if (!PageRedo.IsIntact(page, request.Page))
        {
            throw new RepositoryException($"the image of page {request.Page} of database '{request.Database}' in set {set.SetId} of {Name} (chunk {string.Join(", ", range.Chunks)}) fails its own checksum: the page was damaged before that backup read it.");
        }
        uint next = await ReplaySetLogsAsync(repo, set, stream, request, (ushort)database.Id, page, ct).ConfigureAwait(false);
        PageRedo.Seal(page, request.Page);
        return new PageRepairImage(page, new Lsn(next, 0), request.LogSignature, request.DatabaseSignature, $"{Name} set {set.SetId}");
    }

    /// <summary>Replays onto <paramref name="page"/> the set's generations and those of the stream's later sets and
    /// shipped generations that follow them without a gap; returns the first generation not replayed (where the
    /// instance's own log takes over).</summary>
    private static async Task<uint> ReplaySetLogsAsync(BackupRepository repo, Manifest set, List<Manifest> stream, PageRepairRequest request, ushort databaseId, byte[] page, CancellationToken ct)
    {
        var generations = new Dictionary<uint, (Manifest Set, ManifestFile File)>();
        foreach (var m in stream.Where(m => m.GenHigh >= set.GenLow).OrderBy(m => m.GenHigh))
        {
            foreach (var f in SetLayout.LogFilesOf(m))
            {
                if (SetLayout.TryLogGeneration(f, out uint g) && g >= set.GenLow)
                {
                    generations.TryAdd(g, (m, f));
                }
            }
        }
        var redo = new PageRedo(request.LogSignature, databaseId, request.Page, new Lsn(set.GenLow, 0));
        uint next = set.GenLow;
        for (; generations.TryGetValue(next, out var at); next++)
        {
            await ReplayAsync(repo, at.Set, at.File, redo, next, page, ct).ConfigureAwait(false);
        }
        if (next <= set.GenHigh)
        {
            throw new RepositoryException($"set {set.SetId} lacks log generation {next} of its range {set.GenLow}-{set.GenHigh}: it is damaged (run 'blueback verify --set {set.SetId}').");
        }
        // Then the stream's shipped generations that follow without a gap: log shipping deletes what it shipped from the
        // instance's own log once a checkpoint passes it, so with a shipper they are the only copy of the records since.
        var shipped = (await repo.ListShippedAsync(request.Instance, ct).ConfigureAwait(false))
            .Where(k => k.LogSignature == set.LogSignature).ToDictionary(k => k.Generation);
        for (; shipped.TryGetValue(next, out var key); next++)
        {
            var m = await repo.ReadShippedAsync(key, ct).ConfigureAwait(false);
            await ReplayAsync(repo, m, SetLayout.LogFilesOf(m).Single(), redo, next, page, ct).ConfigureAwait(false);
        }
        return next;
    }

    private static async Task ReplayAsync(BackupRepository repo, Manifest holder, ManifestFile file, PageRedo redo, uint generation, byte[] page, CancellationToken ct)
    {
        using var bytes = new MemoryStream((int)file.Size);
        await SetVerifier.ExtractAsync(repo, holder, file, bytes, ct).ConfigureAwait(false); // every chunk and the file's digest
        redo.Replay(bytes.ToArray(), $"{(holder.Type == BackupRepository.ShippedType ? "shipped generation" : "set")} {holder.SetId}, {file.Path}", generation, page);
    }

    private async Task<BackupRepository> RepositoryAsync(CancellationToken ct)
    {
        await _opening.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return _repository ??= await _open(ct).ConfigureAwait(false);
        }
        finally
        {
            _opening.Release();
        }
    }

    public void Dispose()
    {
        (_repository?.Store as IDisposable)?.Dispose();
        _opening.Dispose();
    }
}
