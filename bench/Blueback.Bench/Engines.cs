using System.Buffers.Binary;
using System.Diagnostics;
using Blueback.Storage;
using Microsoft.Data.Sqlite;

namespace Blueback.Bench;

/// <summary>The same workloads on Blueback and on SQLite (WAL mode; synchronous=FULL for durable commits).</summary>
internal static class Engines
{
    private const long CacheBytes = 64L << 20;
    private const int RowSize = 1024;

    private static byte[] Key(long i)
    {
        var k = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(k, i);
        return k;
    }

    /// <summary>Durable transactions of <paramref name="batch"/> puts of <paramref name="valueSize"/> bytes;
    /// returns puts per second. Keys as the load generator makes them: a run id, the writer, a sequence.</summary>
    public static double BluebackDurablePuts(string dir, int writers, int batch, int valueSize, double seconds)
    {
        using var inst = StorageInstance.Create(dir, new InstanceOptions());
        var db = inst.CreateDatabase("mailbox");
        long puts = 0;
        var value = new byte[valueSize];
        Random.Shared.NextBytes(value);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var sw = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (long seq = 0; !stop.IsCancellationRequested; seq += batch)
            {
                using var tx = await inst.BeginWriteAsync().ConfigureAwait(false);
                for (int i = 0; i < batch; i++)
                {
                    tx.Put(db, "load", System.Text.Encoding.UTF8.GetBytes($"run-w{w:D3}-{seq + i:D10}"), value);
                }
                await tx.CommitAsync(CommitMode.Durable).ConfigureAwait(false);
                Interlocked.Add(ref puts, batch);
            }
        })).ToArray();
        Task.WaitAll(tasks);
        return puts / sw.Elapsed.TotalSeconds;
    }

    public static double BluebackDurableCommits(string dir, int writers, double seconds)
    {
        using var inst = StorageInstance.Create(dir, new InstanceOptions { CacheSize = CacheBytes });
        var db = inst.CreateDatabase("d");
        long commits = 0;
        var value = new byte[100];
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var sw = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var rng = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                using var tx = await inst.BeginWriteAsync().ConfigureAwait(false);
                tx.Put(db, "t", Key(rng.Next(100_000)), value);
                await tx.CommitAsync(CommitMode.Durable).ConfigureAwait(false);
                Interlocked.Increment(ref commits);
            }
        })).ToArray();
        Task.WaitAll(tasks);
        return commits / sw.Elapsed.TotalSeconds;
    }

    private static SqliteConnection OpenSqlite(string dir, string synchronous)
    {
        Directory.CreateDirectory(dir);
        var c = new SqliteConnection($"Data Source={Path.Combine(dir, "db.sqlite")};Pooling=False");
        c.Open();
        Exec(c, "PRAGMA journal_mode=WAL;");
        Exec(c, $"PRAGMA synchronous={synchronous};");
        Exec(c, "PRAGMA busy_timeout=30000;");
        Exec(c, $"PRAGMA cache_size=-{CacheBytes / 1024};");
        Exec(c, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;");
        return c;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public static double SqliteDurableCommits(string dir, int writers, double seconds)
    {
        using (OpenSqlite(dir, "FULL"))
        {
        }
        long commits = 0;
        var value = new byte[100];
        var deadline = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, writers).Select(w => new Thread(() =>
        {
            using var c = OpenSqlite(dir, "FULL");
            var rng = new Random(w);
            using var begin = c.CreateCommand();
            begin.CommandText = "BEGIN IMMEDIATE";
            using var put = c.CreateCommand();
            put.CommandText = "INSERT OR REPLACE INTO kv(k, v) VALUES ($k, $v)";
            var pk = put.Parameters.Add("$k", SqliteType.Blob);
            var pv = put.Parameters.Add("$v", SqliteType.Blob);
            using var commit = c.CreateCommand();
            commit.CommandText = "COMMIT";
            while (deadline.Elapsed.TotalSeconds < seconds)
            {
                begin.ExecuteNonQuery();
                pk.Value = Key(rng.Next(100_000));
                pv.Value = value;
                put.ExecuteNonQuery();
                commit.ExecuteNonQuery();
                Interlocked.Increment(ref commits);
            }
        })).ToList();
        var sw = Stopwatch.StartNew();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        double r = commits / sw.Elapsed.TotalSeconds;
        SqliteConnection.ClearAllPools();
        return r;
    }

    /// <summary>Bulk load in transactions of 1,000 rows, then a clean close: everything on disk at the end.</summary>
    public static double BluebackBulkLoad(string dir, long bytes)
    {
        var sw = Stopwatch.StartNew();
        using (var inst = StorageInstance.Create(dir, new InstanceOptions { CacheSize = CacheBytes, LogGenerationSize = 16 << 20, CheckpointLogBytes = 256L << 20 }))
        {
            var db = inst.CreateDatabase("d");
            var value = new byte[RowSize];
            var rng = new Random(1);
            long rows = bytes / RowSize;
            for (long i = 0; i < rows;)
            {
                using var tx = inst.BeginWrite();
                for (int j = 0; j < 1000 && i < rows; j++, i++)
                {
                    rng.NextBytes(value);
                    tx.Put(db, "t", Key(i), value);
                }
                tx.Commit(CommitMode.Lazy);
            }
        }
        return bytes / 1e6 / sw.Elapsed.TotalSeconds;
    }

    public static double SqliteBulkLoad(string dir, long bytes)
    {
        var sw = Stopwatch.StartNew();
        using (var c = OpenSqlite(dir, "NORMAL"))
        {
            var value = new byte[RowSize];
            var rng = new Random(1);
            long rows = bytes / RowSize;
            using var put = c.CreateCommand();
            put.CommandText = "INSERT INTO kv(k, v) VALUES ($k, $v)";
            var pk = put.Parameters.Add("$k", SqliteType.Blob);
            var pv = put.Parameters.Add("$v", SqliteType.Blob);
            for (long i = 0; i < rows;)
            {
                using var tx = c.BeginTransaction();
                put.Transaction = tx;
                for (int j = 0; j < 1000 && i < rows; j++, i++)
                {
                    rng.NextBytes(value);
                    pk.Value = Key(i);
                    pv.Value = value;
                    put.ExecuteNonQuery();
                }
                tx.Commit();
            }
            Exec(c, "PRAGMA wal_checkpoint(TRUNCATE);");
        }
        SqliteConnection.ClearAllPools();
        return bytes / 1e6 / sw.Elapsed.TotalSeconds;
    }

    public static double BluebackRandomReads(string dir, int readers, double seconds)
    {
        using var inst = StorageInstance.Open(dir, new InstanceOptions { CacheSize = CacheBytes });
        var db = inst.GetDatabase("d");
        long rows;
        using (var r = inst.BeginRead())
        {
            rows = BinaryPrimitives.ReadInt64BigEndian(r.Scan(db, "t", null, null, true, 1)[0].Key) + 1;
        }
        long reads = 0;
        var sw = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, readers).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            long n = 0;
            while (sw.Elapsed.TotalSeconds < seconds)
            {
                using var r = inst.BeginRead();
                for (int i = 0; i < 100; i++, n++)
                {
                    if (r.Get(db, "t", Key(rng.NextInt64(rows))) is null)
                    {
                        throw new InvalidOperationException("row missing");
                    }
                }
            }
            Interlocked.Add(ref reads, n);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return reads / sw.Elapsed.TotalSeconds;
    }

    public static double SqliteRandomReads(string dir, int readers, double seconds)
    {
        long rows;
        using (var c = OpenSqlite(dir, "NORMAL"))
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM kv";
            rows = (long)cmd.ExecuteScalar()!;
        }
        long reads = 0;
        var sw = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, readers).Select(t => new Thread(() =>
        {
            using var c = OpenSqlite(dir, "NORMAL");
            using var get = c.CreateCommand();
            get.CommandText = "SELECT v FROM kv WHERE k = $k";
            var pk = get.Parameters.Add("$k", SqliteType.Blob);
            var rng = new Random(t);
            long n = 0;
            while (sw.Elapsed.TotalSeconds < seconds)
            {
                for (int i = 0; i < 100; i++, n++)
                {
                    pk.Value = Key(rng.NextInt64(rows));
                    if (get.ExecuteScalar() is not byte[])
                    {
                        throw new InvalidOperationException("row missing");
                    }
                }
            }
            Interlocked.Add(ref reads, n);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        SqliteConnection.ClearAllPools();
        return reads / sw.Elapsed.TotalSeconds;
    }
}
