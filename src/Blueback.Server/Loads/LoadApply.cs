using Blueback.Protocol;
using Blueback.Storage;
using Blueback.Storage.Transactions;

namespace Blueback.Server.Loads;

/// <summary>A load's commit: one write transaction that first empties the scope (replace: the table's keys in the
/// range, or every table of the database) and then puts every staged row; or, into a new table, only the puts. Other
/// writers of the instance wait for the writer meanwhile (bounded by the instance's wait timeout), readers never.</summary>
internal static class LoadApply
{
    private const int DeletePage = 1000;

    public static async Task<LoadCommitResponse> RunAsync(StorageInstance inst, Database db, HostedLoad load, CancellationToken ct)
    {
        var req = load.Request;
        using var tx = await inst.BeginWriteAsync(ct).ConfigureAwait(false);
        long deleted = 0;
        if (req.Mode == "into")
        {
            if (tx.TableExists(db, req.Into!))
            {
                throw new LoadStateException($"Table '{req.Into}' already exists in database '{db.Name}' of instance '{inst.Name}': --into writes a new table. Choose another name, or restore in place with --replace.");
            }
        }
        else
        {
            foreach (var table in req.Table is { } t ? [t] : tx.Tables(db))
            {
                deleted += DeleteRange(tx, db, table, req.From, req.To, ct);
            }
        }
        long rows = 0, bytes = 0;
        foreach (var (table, key, value) in load.StagedRows())
        {
            if ((rows & 1023) == 0)
            {
                ct.ThrowIfCancellationRequested();
            }
            tx.Put(db, req.Mode == "into" ? req.Into! : table, key, value);
            rows++;
            bytes += key.Length + value.Length;
        }
        await tx.CommitAsync(CommitMode.Durable, ct).ConfigureAwait(false);
        return new LoadCommitResponse { Rows = rows, Bytes = bytes, Deleted = deleted, CommitLsn = tx.CommitLsn.ToString(), CommitTime = tx.CommitTime };
    }

    /// <summary>Deletes the keys of [from, to) a page at a time: the scan of a write transaction is materialized, so
    /// a page bounds what it holds.</summary>
    private static long DeleteRange(WriteTransaction tx, Database db, string table, byte[]? from, byte[]? to, CancellationToken ct)
    {
        long deleted = 0;
        var cursor = from;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var page = tx.Scan(db, table, cursor, to, false, DeletePage);
            foreach (var kv in page)
            {
                tx.Delete(db, table, kv.Key);
            }
            deleted += page.Count;
            if (page.Count < DeletePage)
            {
                return deleted;
            }
            cursor = [.. page[^1].Key, 0];
        }
    }
}
