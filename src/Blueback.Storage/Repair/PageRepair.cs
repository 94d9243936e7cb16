using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;

namespace Blueback.Storage.Repair;

/// <summary>Repairs a page that failed its checksum in a normal read: fetches a good image from the instance's
/// <see cref="IPageRepairSource"/>, checks it (its checksum with the page number folded in, the database and log
/// stream), replays onto it the committed changes to that page in this instance's own log after the position the
/// source had applied, writes it in place and flushes it. Called by the cache while only that page's load waits.</summary>
internal sealed class PageRepair(string instance, string logDirectory, Signature logSignature, IPageRepairSource source, TimeSpan timeout)
{
    private long _repaired;

    /// <summary>Pages repaired since the instance opened.</summary>
    public long Repaired => Interlocked.Read(ref _repaired);

    /// <summary>The repaired page (its checksum stamped, written and flushed), or the original damage, with why the
    /// repair failed added, thrown.</summary>
    public byte[] Run(ushort databaseId, string databaseName, Signature databaseSignature, DatabaseFile file, uint page, PageCorruptException damage)
    {
        using var cts = new CancellationTokenSource(timeout);
        var from = source.Name; // the image's own origin once fetched (a repository's set)
        try
        {
            var data = Fetch(databaseName, databaseSignature, file, page, cts.Token, out var image);
            from = image.From ?? source.Name;
            int replayed = RollForward(databaseId, page, data, image.AppliedThrough, from, cts.Token);
            file.WritePage(page, data);
            file.Sync(); // durable before the read that needed it goes on
            Interlocked.Increment(ref _repaired);
            Tell(databaseName, file, page, from, true, $"the image of {from} (applied through {image.AppliedThrough}, page LSN {Lsn.FromValue(PageHeader.Read(data).Lsn)}), {replayed} later change(s) replayed from this instance's log");
            return data;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var why = ex is OperationCanceledException ? $"{source.Name} did not answer within {timeout.TotalSeconds:0.#} s" : ex.Message;
            Tell(databaseName, file, page, from, false, why);
            throw new PageCorruptException(file.Path, page, $"{damage.Detail}; repair from {from} failed: {why}");
        }
    }

    private byte[] Fetch(string databaseName, Signature databaseSignature, DatabaseFile file, uint page, CancellationToken ct, out PageRepairImage image)
    {
        image = source.Fetch(new PageRepairRequest(instance, databaseName, databaseSignature, logSignature, page, file.PageSize), ct)
            ?? throw new StorageException($"{source.Name} holds no image of page {page} of database '{databaseName}'");
        if (image.LogSignature != logSignature || image.DatabaseSignature != databaseSignature)
        {
            throw new StorageException($"{source.Name} holds another copy (log stream {image.LogSignature}, database {image.DatabaseSignature}; this instance's are {logSignature} and {databaseSignature})");
        }
        var data = image.Data;
        if (data.Length != file.PageSize || !PageRedo.IsIntact(data, page))
        {
            throw new StorageException($"the image of page {page} from {source.Name} failed its own checksum ({data.Length} bytes)");
        }
        return data;
    }

    /// <summary>Replays the committed page records of this page after <paramref name="from"/> onto the image (each only
    /// when newer than the page, as redo does). The log from there must be complete: every change the source had not
    /// applied is in it, since the page was not in the cache (a change since its last flush would have kept it there).</summary>
    private int RollForward(ushort databaseId, uint page, byte[] data, Lsn from, string origin, CancellationToken ct)
    {
        var gens = LogFiles.List(logDirectory);
        if (gens.Count == 0 || from.Generation > gens[^1] + 1)
        {
            throw new StorageException($"{origin} had applied through {from}, past this instance's log ({(gens.Count == 0 ? "empty" : $"generations {gens[0]}-{gens[^1]}")}): it is not a copy of this instance's past");
        }
        if (from.Generation < gens[0])
        {
            throw new StorageException($"this instance's log no longer holds generation {from.Generation} (it starts at {gens[0]}: generations {from.Generation}-{gens[0] - 1} were truncated, by a later backup or circular logging), so the changes to page {page} since the image of {origin} cannot be replayed. "
                + "Take a full backup into the repository the image came from (its newest set then reaches this log; a standby source must catch up instead), or restore the database from a backup");
        }
        var redo = new PageRedo(logSignature, databaseId, page, from);
        for (uint g = from.Generation; g <= gens[^1]; g++)
        {
            ct.ThrowIfCancellationRequested();
            redo.Replay(logDirectory, g, data);
        }
        return redo.Replayed;
    }

    private void Tell(string database, DatabaseFile file, uint page, string from, bool repaired, string detail)
    {
        try
        {
            source.Report(new PageRepairReport(instance, database, file.Path, page, from, repaired, detail, DateTime.UtcNow));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // telling is best effort: the read's outcome does not depend on it
        }
    }
}
