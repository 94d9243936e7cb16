using Blueback.Client;
using Blueback.Protocol;
using Blueback.Storage;

namespace Blueback.Backup;

/// <summary>A granular restore's progress: rows and bytes of keys and values copied so far, and the table at hand.</summary>
public sealed record GranularProgress(string Table, long Rows, long Bytes);

/// <summary>What a granular restore wrote: rows and bytes put, live keys deleted first (in place), and where its one
/// commit lies (online).</summary>
public sealed record GranularResult(IReadOnlyList<string> Tables, long Rows, long Bytes, long Deleted, string? CommitLsn, DateTime? CommitTime);

/// <summary>Copies a scope of a <see cref="ScratchCopy"/> in key order: into a live server through a staged load (one
/// transaction: in place of the live scope, or into a new table), or into a new instance directory offline.</summary>
public static class GranularRestore
{
    /// <summary>Offline, rows are committed in transactions of this many bytes: the new instance is not live, so no
    /// reader can see it half written, and one transaction holds a quarter of the cache at most.</summary>
    private const long OfflineTransactionBytes = 16L << 20;

    /// <summary>Writes the scope into <paramref name="instance"/> on the server in one transaction: with
    /// <paramref name="into"/>, into that new table; otherwise in place of the live scope, which becomes exactly the
    /// set's.</summary>
    public static async Task<GranularResult> ToServerAsync(ScratchCopy source, GranularScope scope, BluebackClient client, string instance, string? into,
        IProgress<GranularProgress>? progress, CancellationToken ct)
    {
        var request = new BeginLoadRequest { Mode = into is null ? "replace" : "into", Database = scope.Database, Table = scope.Table, Into = into, From = scope.From, To = scope.To };
        var load = await client.BeginLoadAsync(instance, request, ct).ConfigureAwait(false);
        await using (load.ConfigureAwait(false))
        {
            var tables = source.Tables(scope);
            foreach (var table in tables)
            {
                using var r = source.Instance.BeginRead();
                foreach (var kv in r.Scan(source.Database, table, scope.From, scope.To))
                {
                    await load.AddAsync(table, kv.Key, kv.Value, ct).ConfigureAwait(false);
                    progress?.Report(new GranularProgress(table, load.Rows, load.Bytes));
                }
            }
            var c = await load.CommitAsync(ct).ConfigureAwait(false);
            return new GranularResult(tables, c.Rows, c.Bytes, c.Deleted, c.CommitLsn, c.CommitTime);
        }
    }

    /// <summary>Writes the scope into a new instance at <paramref name="instanceDirectory"/> holding that database
    /// alone (page size as the set's); with <paramref name="into"/>, under that table name. A directory that holds an
    /// instance already is refused.</summary>
    public static GranularResult ToDirectory(ScratchCopy source, GranularScope scope, string instanceDirectory, string? into, IProgress<GranularProgress>? progress, CancellationToken ct)
    {
        if (File.Exists(Path.Combine(instanceDirectory, Storage.Recovery.CheckpointFile.FileName)))
        {
            throw new GranularRestoreException($"'{instanceDirectory}' holds an instance already: a granular restore offline writes a new one. Choose another --to directory or --as name.");
        }
        var tables = source.Tables(scope);
        long rows = 0, bytes = 0;
        using (var target = StorageInstance.Create(instanceDirectory, new InstanceOptions { SummarizeInBackground = false }))
        {
            var db = target.CreateDatabase(scope.Database, source.Database.PageSize);
            foreach (var table in tables)
            {
                using var r = source.Instance.BeginRead();
                var tx = target.BeginWrite(ct);
                try
                {
                    long inTx = 0;
                    foreach (var kv in r.Scan(source.Database, table, scope.From, scope.To))
                    {
                        ct.ThrowIfCancellationRequested();
                        tx.Put(db, into ?? table, kv.Key, kv.Value);
                        rows++;
                        bytes += kv.Key.Length + kv.Value.Length;
                        inTx += kv.Key.Length + kv.Value.Length;
                        if (inTx >= OfflineTransactionBytes)
                        {
                            tx.Commit(CommitMode.Lazy);
                            tx = target.BeginWrite(ct);
                            inTx = 0;
                            progress?.Report(new GranularProgress(table, rows, bytes));
                        }
                    }
                    tx.Commit(CommitMode.Durable);
                }
                finally
                {
                    tx.Dispose();
                }
            }
        }
        progress?.Report(new GranularProgress(tables.Count > 0 ? tables[^1] : "", rows, bytes));
        return new GranularResult(tables, rows, bytes, 0, null, null);
    }
}
