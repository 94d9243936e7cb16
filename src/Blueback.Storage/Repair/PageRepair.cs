using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Recovery;

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
        try
        {
            var data = Fetch(databaseName, databaseSignature, file, page, cts.Token, out var image);
            int replayed = RollForward(databaseId, page, data, image.AppliedThrough, cts.Token);
            file.WritePage(page, data);
            file.Sync(); // durable before the read that needed it goes on
            Interlocked.Increment(ref _repaired);
            Tell(databaseName, file, page, true, $"the image of {source.Name} (applied through {image.AppliedThrough}, page LSN {Lsn.FromValue(PageHeader.Read(data).Lsn)}), {replayed} later change(s) replayed from this instance's log");
            return data;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var why = ex is OperationCanceledException ? $"{source.Name} did not answer within {timeout.TotalSeconds:0.#} s" : ex.Message;
            Tell(databaseName, file, page, false, why);
            throw new PageCorruptException(file.Path, page, $"{damage.Detail}; repair from {source.Name} failed: {why}");
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
        if (data.Length != file.PageSize || !Checksum.VerifyPage(data, page) || PageHeader.Read(data).PageNumber != page)
        {
            throw new StorageException($"the image of page {page} from {source.Name} failed its own checksum ({data.Length} bytes)");
        }
        return data;
    }

    /// <summary>Replays the committed page records of this page after <paramref name="from"/> onto the image (each only
    /// when newer than the page, as redo does). The log from there must be complete: every change the source had not
    /// applied is in it, since the page was not in the cache (a change since its last flush would have kept it there).</summary>
    private int RollForward(ushort databaseId, uint page, byte[] data, Lsn from, CancellationToken ct)
    {
        var gens = LogFiles.List(logDirectory);
        if (gens.Count == 0 || from.Generation < gens[0] || from.Generation > gens[^1] + 1)
        {
            throw new StorageException($"the source had applied through {from}, which this instance's log ({(gens.Count == 0 ? "empty" : $"generations {gens[0]}-{gens[^1]}")}) does not reach: the changes since cannot be replayed");
        }
        var pending = new List<LogRecord>();
        int replayed = 0;
        for (uint g = from.Generation; g <= gens[^1]; g++)
        {
            ct.ThrowIfCancellationRequested();
            var reader = LogGenerationReader.Open(logDirectory, g);
            if (reader.Header.LogSignature != logSignature)
            {
                throw new StorageException($"log generation {g} belongs to another log stream");
            }
            while (reader.TryRead(out var rec))
            {
                if (rec.Lsn < from)
                {
                    continue;
                }
                if (rec.Type is LogRecordType.PageImage or LogRecordType.PageDelta && rec.Database == databaseId && rec.Page == page)
                {
                    pending.Add(rec);
                }
                else if (rec.Type == LogRecordType.Commit)
                {
                    foreach (var r in pending)
                    {
                        replayed += Apply(r, data) ? 1 : 0;
                    }
                    pending.Clear();
                }
            }
        }
        return replayed;
    }

    private static bool Apply(LogRecord rec, byte[] page)
    {
        if (Lsn.FromValue(PageHeader.Read(page).Lsn) >= rec.Lsn)
        {
            return false;
        }
        LogReplayer.ApplyToPage(rec, page, "");
        return true;
    }

    private void Tell(string database, DatabaseFile file, uint page, bool repaired, string detail)
    {
        try
        {
            source.Report(new PageRepairReport(instance, database, file.Path, page, source.Name, repaired, detail, DateTime.UtcNow));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // telling is best effort: the read's outcome does not depend on it
        }
    }
}
