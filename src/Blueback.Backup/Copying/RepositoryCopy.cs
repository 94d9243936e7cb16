using Blueback.Repository;
using Blueback.Repository.Chunks;
using Blueback.Repository.Compression;

namespace Blueback.Backup;

/// <summary><c>repo copy</c>: copies committed sets and shipped generations from one repository to another, chunk by
/// chunk. It only reads the source and only adds to the destination. Each chunk read is checked as a restore checks
/// it (trailer, CRC32C or AES-GCM tag, content against its id), named in the destination by its content under the
/// destination's keys, and written only when the destination does not hold it (re-sealed, and re-compressed where the
/// set's codec differs from the chunk's). Each set is committed through the destination's set writer, manifest last,
/// so a copy stopped at any moment lists no partial set, and a rerun skips what is already there.</summary>
public static class RepositoryCopy
{
    public static async Task<CopyResult> RunAsync(BackupRepository from, BackupRepository to, CopySelection selection, IProgress<CopyProgress>? progress, CancellationToken ct)
    {
        foreach (var (r, side) in new[] { (from, "source"), (to, "destination") })
        {
            if (r.Format < 2)
            {
                throw new RepositoryException($"The {side} '{r.Store.Location}' is a format-{r.Format} repository; repo copy reads and writes format 2 only (content-addressed chunks). Copy into a new format-2 repository ('blueback repo init') from a format-2 one.");
            }
        }
        if (from.Id == to.Id)
        {
            throw new RepositoryException($"'{from.Store.Location}' and '{to.Store.Location}' are the same repository ({from.Id}); give another destination.");
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var sourceSets = await from.ListSetsAsync(ct).ConfigureAwait(false);
        var present = (await to.ListSetsAsync(ct).ConfigureAwait(false)).Select(m => m.SetId).ToHashSet(StringComparer.Ordinal);
        var known = BackupRepository.KnownChunks(await to.ListSetsAsync(ct).ConfigureAwait(false));
        var result = new CopyResult();
        var sets = Choose(sourceSets, selection);
        var shipped = selection.SetId is null ? await ChooseShippedAsync(from, to, selection, result, ct).ConfigureAwait(false) : [];
        long total = sets.Where(m => !present.Contains(m.SetId)).Concat(shipped).Sum(m => m.Files.Sum(f => f.Size));
        long done = 0;
        void Advance(string item, long bytes)
        {
            done += bytes;
            progress?.Report(new CopyProgress(item, done, total));
        }
        foreach (var m in sets)
        {
            if (present.Contains(m.SetId))
            {
                result.AlreadyThere.Add(m.SetId);
                continue;
            }
            var writer = to.BeginSet(m.SetId, Codec.ByName(m.Codec), ChunkSizeOf(m), known);
            await CopyOneAsync(from, writer, m, result, b => Advance(m.SetId, b), ct).ConfigureAwait(false);
            result.Copied.Add(m.SetId);
            Learn(known, writer);
        }
        foreach (var m in shipped)
        {
            var writer = to.BeginShipped(new ShippedKey(m.Instance, m.LogSignature, m.GenLow), Codec.ByName(m.Codec), ChunkSizeOf(m), known);
            await CopyOneAsync(from, writer, m, result, b => Advance(m.SetId, b), ct).ConfigureAwait(false);
            result.ShippedCopied++;
        }
        result.Seconds = clock.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>The sets chosen, each after every set of its chain (a chained set needs its base in the destination:
    /// the chain is copied with it), in the source's order. A chain broken in the source is refused, naming it.</summary>
    private static List<Manifest> Choose(List<Manifest> sets, CopySelection selection)
    {
        IEnumerable<Manifest> picked = selection.SetId is { } id ? [SetIds.Resolve(sets, id)]
            : selection.Since is { } since ? sets.Where(m => m.Ended >= since)
            : sets;
        var chosen = new List<Manifest>();
        foreach (var m in picked)
        {
            List<Manifest> chain;
            try
            {
                chain = ChainResolver.ChainOf(m, sets);
            }
            catch (ChainBrokenException ex)
            {
                throw new RepositoryException($"Set {m.SetId} cannot be copied without the chain it builds on, which the source does not hold whole: {ex.Message}. Nothing of it was copied.", ex);
            }
            chosen.AddRange(chain.Where(c => !chosen.Contains(c)));
        }
        return chosen;
    }

    /// <summary>The shipped generations the destination does not hold yet (with --since, those ended at or after it).</summary>
    private static async Task<List<Manifest>> ChooseShippedAsync(BackupRepository from, BackupRepository to, CopySelection selection, CopyResult result, CancellationToken ct)
    {
        var there = (await to.ListShippedAsync(null, ct).ConfigureAwait(false)).ToHashSet();
        var all = await from.ListShippedAsync(null, ct).ConfigureAwait(false);
        result.ShippedAlreadyThere = all.Count(there.Contains);
        var manifests = await from.ReadShippedAsync(all.Where(k => !there.Contains(k)).ToList(), ct).ConfigureAwait(false);
        return manifests.Where(m => selection.Since is not { } since || m.Ended >= since).ToList();
    }

    private static int ChunkSizeOf(Manifest m) =>
        Math.Max(BackupSetWriter.DefaultChunkSize, m.Files.SelectMany(f => f.Chunks).Select(c => c.RawSize).DefaultIfEmpty(0).Max());

    private static void Learn(Dictionary<string, int> known, BackupSetWriter writer)
    {
        foreach (var c in writer.Files.SelectMany(f => f.Chunks))
        {
            known[ChunkObject.IdOf(c.Key)] = c.StoredSize;
        }
    }

    /// <summary>Copies one set or shipped generation and commits it in the destination; on any failure what it wrote
    /// there is abandoned (it has no manifest: it is not a set; chunks a rerun reuses stay).</summary>
    private static async Task CopyOneAsync(BackupRepository from, BackupSetWriter writer, Manifest m, CopyResult result, Action<long> advance, CancellationToken ct)
    {
        long storedBefore = writer.StoredBytes;
        try
        {
            await writer.AdoptEarlierStartAsync(ct).ConfigureAwait(false);
            foreach (var file in m.Files)
            {
                var target = writer.BeginCopiedFile(file.Path);
                var hashes = new List<byte[]>(file.Chunks.Count);
                await foreach (var chunk in SourceChunks.ReadAsync(from, writer, m, file, Math.Max(1, from.Parallelism), ct).ConfigureAwait(false))
                {
                    hashes.Add(chunk.ContentHash);
                    result.ReadBytes += chunk.ReadBytes;
                    await writer.AddCopiedChunkAsync(target, chunk.RawSize, chunk.ContentHash, chunk.Content, chunk.Payload, chunk.PayloadCodec, ct).ConfigureAwait(false);
                    advance(chunk.RawSize);
                }
                if (file.ChunkDigest is { } digest && !string.Equals(ChunkDigest.Of(hashes), digest, StringComparison.Ordinal))
                {
                    throw new CopySourceDamagedException($"Set {m.SetId}, file {file.Path} in '{from.Store.Location}': its chunks are not the ones its manifest's digest names. Nothing of the set was committed in the destination; run 'blueback verify' on the source.");
                }
                writer.CompletePreparedFile(target);
            }
            await writer.CommitAsync(Copied(m, writer), ct).ConfigureAwait(false);
        }
        catch
        {
            await writer.AbandonAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            throw;
        }
        result.Bytes += writer.RawBytes;
        result.ReusedBytes += writer.ReusedBytes;
        result.WrittenBytes += writer.StoredBytes - storedBefore;
    }

    /// <summary>The source's manifest as the destination's: the same set id, instance, type, times, chain and log range,
    /// with the destination's repository id and chunks.</summary>
    private static Manifest Copied(Manifest m, BackupSetWriter writer) => new()
    {
        RepositoryId = writer.RepositoryId,
        SetId = m.SetId,
        ParentSetId = m.ParentSetId,
        Instance = m.Instance,
        Server = m.Server,
        Type = m.Type,
        Started = m.Started,
        Ended = m.Ended,
        LogsCover = m.LogsCover,
        LogSignature = m.LogSignature,
        GenLow = m.GenLow,
        GenHigh = m.GenHigh,
        Codec = writer.CodecName,
        ChangedSince = m.ChangedSince,
        WholeImages = m.WholeImages,
        UnchangedFrom = m.UnchangedFrom,
        TableDigests = m.TableDigests,
        Databases = m.Databases,
        Files = [.. writer.Files],
    };
}
