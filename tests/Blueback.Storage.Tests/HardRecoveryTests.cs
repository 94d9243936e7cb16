using System.Buffers.Binary;
using System.Collections.Concurrent;
using Blueback.IO;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Restore;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>Hard recovery after a restore: exact point-in-time stops, play-forward through live logs, every
/// refusal, and a recovery interrupted and run again.</summary>
public class HardRecoveryTests
{
    private static readonly InstanceOptions Opts = Small.Options with { CheckpointLogBytes = 1 << 20, CacheSize = 8L << 20 };

    private static long L(byte[]? v) => v is null ? 0 : BinaryPrimitives.ReadInt64LittleEndian(v);

    /// <summary>Numbered transactions (one writer at a time takes the next number) that record their commit
    /// position and time, so a restored state can be compared with the state at an exact point.</summary>
    private sealed class RecordingWriters : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _tasks;

        public RecordingWriters(StorageInstance inst, int count)
        {
            var a = inst.GetDatabase("a");
            var b = inst.GetDatabase("b");
            _tasks = Enumerable.Range(0, count).Select(w => Task.Run(async () =>
            {
                var rng = new Random(w);
                while (!_stop.IsCancellationRequested)
                {
                    using var tx = await inst.BeginWriteAsync();
                    long seq = L(tx.Get(a, "meta", B("seq"))) + 1;
                    var v = BitConverter.GetBytes(seq);
                    tx.Put(a, "meta", B("seq"), v);
                    tx.Put(a, "markers", B($"m{seq:D9}"), new byte[rng.Next(10, 3000)]);
                    tx.Put(b, "keys", B($"k{seq % 41}"), v);
                    await tx.CommitAsync();
                    Commits[seq] = (tx.CommitLsn, tx.CommitTime);
                }
            })).ToList();
        }

        public ConcurrentDictionary<long, (Lsn Lsn, DateTime Time)> Commits { get; } = new();

        public long Acked => Commits.IsEmpty ? 0 : Commits.Keys.Max();

        public async ValueTask DisposeAsync()
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }
            _stop.Cancel();
            await Task.WhenAll(_tasks);
        }
    }

    private static StorageInstance NewInstance(string dir)
    {
        var inst = StorageInstance.Create(dir, Opts);
        inst.CreateDatabase("a");
        inst.CreateDatabase("b", 4096);
        return inst;
    }

    /// <summary>The restored state is exactly transactions 1..N; returns N.</summary>
    private static long StateOf(StorageInstance restored)
    {
        var a = restored.GetDatabase("a");
        var b = restored.GetDatabase("b");
        using var r = restored.BeginRead();
        long n = L(r.Get(a, "meta", B("seq")));
        var markers = r.Scan(a, "markers").Select(kv => long.Parse(S(kv.Key)[1..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(1, (int)n).Select(i => (long)i), markers);
        for (int k = 0; k < 41; k++)
        {
            long expected = 0;
            for (long s = n; s >= 1 && s >= n - 41; s--)
            {
                if (s % 41 == k)
                {
                    expected = s;
                    break;
                }
            }
            Assert.Equal(expected, L(r.Get(b, "keys", B($"k{k}"))));
        }
        foreach (var db in restored.Databases)
        {
            Assert.Empty(Diagnostics.DatabaseCheck.Checksum(db.File.Path).Bad);
        }
        return n;
    }

    private static BackupMedia Chain(params BackupMedia[] sets)
    {
        var chain = new BackupMedia { GenLow = sets[0].GenLow, GenHigh = sets.Max(s => s.GenHigh), LogSignature = sets[0].LogSignature, ConsistentAfter = sets[0].GenHigh };
        foreach (var (k, v) in sets[0].Images)
        {
            chain.Images[k] = v;
        }
        foreach (var m in sets)
        {
            foreach (var (g, bytes) in m.Logs)
            {
                chain.Logs[g] = bytes;
            }
        }
        return chain;
    }

    [Fact]
    public void Two_restores_over_an_instance_in_one_second_set_its_files_aside_apart()
    {
        // The end-to-end online restore test ran an in-place restore again within the second of the one before:
        // "The file '…/replaced-…/public.bdb' already exists" (a 500). Each replace now gets a folder of its own.
        using var dir = new TempDir();
        var live = dir["live"];
        Directory.CreateDirectory(live);
        var asides = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            File.WriteAllText(Path.Combine(live, "public.bdb"), $"generation {i}");
            RestoreTarget.Prepare(live, replace: true);
            Assert.False(File.Exists(Path.Combine(live, "public.bdb")));
            asides.Add(Assert.Single(Directory.GetDirectories(live, "replaced-*").Except(asides)));
        }
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal($"generation {i}", File.ReadAllText(Path.Combine(asides[i], "public.bdb")));
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task Point_in_time_by_position_and_by_time_between_two_incrementals_is_exact()
    {
        using var dir = new TempDir();
        using var inst = NewInstance(dir["live"]);
        BackupMedia full, inc1, inc2;
        RecordingWriters writers;
        await using (writers = new RecordingWriters(inst, 3))
        {
            await Task.Delay(200);
            full = await Task.Run(() => BackupMedia.Take(inst, BackupType.Full));
            await Task.Delay(200);
            inc1 = await Task.Run(() => BackupMedia.Take(inst, BackupType.Incremental));
            await Task.Delay(400);
            inc2 = await Task.Run(() => BackupMedia.Take(inst, BackupType.Incremental));
        }
        var inc1End = new Lsn(inc1.Logs.Keys.Max() + 1, LogFileHeader.RegionSize);
        var inc2End = new Lsn(inc2.Logs.Keys.Max() + 1, LogFileHeader.RegionSize);
        var between = writers.Commits.Where(c => c.Value.Lsn > inc1End && c.Value.Lsn < inc2End).Select(c => c.Key).Order().ToList();
        Assert.True(between.Count > 10, $"only {between.Count} commits between the incrementals");
        long target = between[between.Count / 2];
        var (lsn, time) = writers.Commits[target];

        // By position: exactly the transactions whose commit ends at or before it.
        using (var r = Chain(full, inc1, inc2).Restore(dir["by-lsn"], Opts, RecoveryStop.AtLsn(lsn)))
        {
            Assert.Equal(target, StateOf(r));
        }
        // By time: every transaction committed at or before it (commit times rise with the numbers).
        long expected = writers.Commits.Where(c => c.Value.Time <= time).Max(c => c.Key);
        using (var r = Chain(full, inc1, inc2).Restore(dir["by-time"], Opts, RecoveryStop.AtTime(time)))
        {
            Assert.Equal(expected, StateOf(r));
        }
        var record = RestoreRecord.Read(dir["by-time"])!;
        Assert.Equal(RestoreStatus.Done, record.Status);
        Assert.NotNull(record.SetAside); // the generations after the stop are kept, not deleted
        Assert.True(Directory.EnumerateFiles(record.SetAside!).Any());

        // Without play-forward the full set alone restores to its own end, whatever logs follow it.
        var fullPlusLater = Chain(full, inc1);
        using (var r = fullPlusLater.Restore(dir["no-forward"], Opts, playForward: false))
        {
            long n = StateOf(r);
            Assert.True(writers.Commits[n].Lsn < new Lsn(inc1.Logs.Keys.Max() + 1, LogFileHeader.RegionSize));
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task A_lost_database_comes_back_with_every_acknowledged_commit_by_playing_forward_through_live_logs()
    {
        using var dir = new TempDir();
        var live = dir["live"];
        BackupMedia full;
        long acked;
        var inst = NewInstance(live);
        await using (var writers = new RecordingWriters(inst, 3))
        {
            await Task.Delay(200);
            full = await Task.Run(() => BackupMedia.Take(inst, BackupType.Full));
            await Task.Delay(500); // more commits, only in the live logs
            await writers.DisposeAsync();
            acked = writers.Acked;
        }
        inst.Dispose();
        File.Delete(Path.Combine(live, "a.bdb"));
        Assert.Throws<DatabaseStateException>(() => StorageInstance.Open(live, Opts).Dispose());

        RestoreTarget.Prepare(live, replace: true);
        var logDir = Path.Combine(live, StorageInstance.LogDirectoryName);
        foreach (var (g, bytes) in full.Logs.Where(l => !File.Exists(LogFiles.PathOf(logDir, l.Key))))
        {
            File.WriteAllBytes(LogFiles.PathOf(logDir, g), bytes);
        }
        var record = new RestoreRecord { GenLow = full.GenLow, GenHigh = full.Logs.Keys.Max(), LogSignature = full.LogSignature, Created = DateTime.UtcNow };
        foreach (var (name, (image, _)) in full.Images)
        {
            File.WriteAllBytes(Path.Combine(live, name + ".bdb"), image);
            record.Databases.Add(RestoreTarget.DescribeImage(live, name + ".bdb", name));
        }
        record.Write(live);
        var report = HardRecovery.Run(live, Opts);
        Assert.False(report.StopReached);
        using var restored = StorageInstance.Open(live, Opts);
        Assert.Equal(acked, StateOf(restored));
    }

    [Fact(Timeout = 120_000)]
    public async Task Every_refusal_names_the_generation_or_database_and_changes_nothing_it_should_not()
    {
        using var dir = new TempDir();
        using var inst = NewInstance(dir["live"]);
        using var other = NewInstance(dir["other"]);
        BackupMedia full, otherFull;
        await using (var w = new RecordingWriters(inst, 2))
        await using (var w2 = new RecordingWriters(other, 1))
        {
            await Task.Delay(300);
            uint first = inst.CurrentGeneration;
            // Writers fill two more generations while the images are read, so the set spans at least three.
            full = await Task.Run(() => BackupMedia.Take(inst, BackupType.Full, between: () => SpinWait.SpinUntil(() => inst.CurrentGeneration >= first + 2, 10_000)));
            // The checkpoint can move between reading 'first' and the backup's begin; take another set then.
            for (int attempt = 0; full.Logs.Count < 2 && attempt < 5; attempt++)
            {
                first = inst.CurrentGeneration;
                full = await Task.Run(() => BackupMedia.Take(inst, BackupType.Full, between: () => SpinWait.SpinUntil(() => inst.CurrentGeneration >= first + 3, 10_000)));
            }
            otherFull = await Task.Run(() => BackupMedia.Take(other, BackupType.Full));
        }
        Assert.True(full.Logs.Count >= 2, "the set should span generations");
        uint mid = full.Logs.Keys.First();

        // A missing generation inside the set's range.
        var e1 = Assert.Throws<LogCorruptException>(() => RestoreTampered(full, dir["missing"], logs => File.Delete(LogFiles.PathOf(logs, mid))));
        Assert.Equal(mid, e1.Generation);
        Assert.Contains("missing", e1.Message, StringComparison.Ordinal);

        // A generation from another instance.
        var e2 = Assert.Throws<LogCorruptException>(() => RestoreTampered(full, dir["foreign"], logs => File.WriteAllBytes(LogFiles.PathOf(logs, mid), ForeignLog(otherFull, mid))));
        Assert.Equal(mid, e2.Generation);
        Assert.Contains("another log stream", e2.Message, StringComparison.Ordinal);

        // A generation of the right stream that does not follow the one before it.
        uint second = full.Logs.Keys.Skip(1).First();
        var e3 = Assert.Throws<LogCorruptException>(() => RestoreTampered(full, dir["gap"], logs => File.WriteAllBytes(LogFiles.PathOf(logs, second), WithPredecessorTime(full.Logs[second], second, 12345))));
        Assert.Equal(second, e3.Generation);
        Assert.Contains("does not follow", e3.Message, StringComparison.Ordinal);

        // A database image from another instance with this instance's logs.
        var mixed = Chain(full);
        mixed.Images["a"] = otherFull.Images["a"];
        var e4 = Assert.Throws<RestoreException>(() => mixed.Restore(dir["mixed"], Opts).Dispose());
        Assert.Contains("a.bdb", e4.Message, StringComparison.Ordinal);

        // A stop point before the set's end, by position and by time.
        var e5 = Assert.Throws<RestoreException>(() => Chain(full).Restore(dir["early-lsn"], Opts, RecoveryStop.AtLsn(new Lsn(mid, LogFileHeader.RegionSize))).Dispose());
        Assert.Contains("before the end of the restored full set", e5.Message, StringComparison.Ordinal);
        var e6 = Assert.Throws<RestoreException>(() => Chain(full).Restore(dir["early-time"], Opts, RecoveryStop.AtTime(new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc))).Dispose());
        Assert.Contains("before the end of the restored full set", e6.Message, StringComparison.Ordinal);
        Assert.Equal(RestoreStatus.Failed, RestoreRecord.Read(dir["early-time"])!.Status);

        // Soft recovery on restored files that had no hard recovery: refused, by the record and by the headers.
        var e7 = Assert.Throws<RestoreException>(() => StorageInstance.Open(dir["early-time"], Opts).Dispose());
        Assert.Contains("db recover", e7.Message, StringComparison.Ordinal);
        File.Delete(RestoreRecord.PathIn(dir["early-time"]));
        var b = RestoreTarget.DescribeImage(dir["early-time"], "b.bdb", "b");
        Recovery.CheckpointFile.Write(Path.Combine(dir["early-time"], Recovery.CheckpointFile.FileName), full.LogSignature, new Lsn(full.GenLow, LogFileHeader.RegionSize), 1,
            [new Recovery.AttachedDatabase(b.Id, b.Signature, "b.bdb")]);
        var e8 = Assert.Throws<DatabaseStateException>(() => StorageInstance.Open(dir["early-time"], Opts).Dispose());
        Assert.Contains("hard recovery", e8.Message, StringComparison.Ordinal);
    }

    /// <summary>Writes the set as a restore would, lets <paramref name="tamper"/> change the log directory, and
    /// runs hard recovery.</summary>
    private static void RestoreTampered(BackupMedia media, string dir, Action<string> tamper)
    {
        var logDir = Path.Combine(dir, StorageInstance.LogDirectoryName);
        Directory.CreateDirectory(logDir);
        var record = new RestoreRecord { GenLow = media.GenLow, GenHigh = media.Logs.Keys.Max(), LogSignature = media.LogSignature, Created = DateTime.UtcNow };
        foreach (var (name, (image, _)) in media.Images)
        {
            File.WriteAllBytes(Path.Combine(dir, name + ".bdb"), image);
            record.Databases.Add(RestoreTarget.DescribeImage(dir, name + ".bdb", name));
        }
        foreach (var (g, bytes) in media.Logs)
        {
            File.WriteAllBytes(LogFiles.PathOf(logDir, g), bytes);
        }
        tamper(logDir);
        record.Write(dir);
        HardRecovery.Run(dir, Opts);
    }

    /// <summary>Another instance's log file renamed to <paramref name="generation"/> (header rewritten to match, so
    /// only the signature gives it away).</summary>
    private static byte[] ForeignLog(BackupMedia other, uint generation)
    {
        var bytes = other.Logs.Values.First().ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), generation);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Crc32C.Compute(generation, bytes.AsSpan(4, LogFileHeader.RegionSize - 4)));
        return bytes;
    }

    private static byte[] WithPredecessorTime(byte[] log, uint generation, long ticks)
    {
        var bytes = log.ToArray();
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(48), ticks);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Crc32C.Compute(generation, bytes.AsSpan(4, LogFileHeader.RegionSize - 4)));
        return bytes;
    }

    [Fact(Timeout = 60_000)]
    public async Task A_full_set_of_an_idle_instance_holds_no_log_generation_and_restores_from_its_images_alone()
    {
        using var dir = new TempDir();
        long n;
        using (var inst = NewInstance(dir["live"]))
        {
            await using (var w = new RecordingWriters(inst, 2))
            {
                await Task.Delay(200);
            }
        }
        BackupMedia set;
        using (var inst = StorageInstance.Open(dir["live"], Opts)) // shut down cleanly: nothing after the checkpoint
        {
            n = StateOf(inst);
            set = BackupMedia.Take(inst, BackupType.Full);
        }
        Assert.Empty(set.Logs);
        Assert.Equal(set.GenLow - 1, set.GenHigh);
        using var restored = set.Restore(dir["restored"], Opts);
        Assert.Equal(n, StateOf(restored));
        Assert.True(n > 0);
        var record = RestoreRecord.Read(dir["restored"])!;
        Assert.Equal(RestoreStatus.Done, record.Status);
        Assert.Equal(0, record.TransactionsReplayed);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_recovery_stopped_halfway_is_visible_and_completes_when_run_again()
    {
        using var dir = new TempDir();
        using var inst = NewInstance(dir["live"]);
        BackupMedia full;
        long acked;
        await using (var writers = new RecordingWriters(inst, 3))
        {
            await Task.Delay(300);
            acked = writers.Acked;
            full = await Task.Run(() => BackupMedia.Take(inst, BackupType.Full, between: () => Thread.Sleep(1)));
        }
        var target = dir["restored"];
        using var cts = new CancellationTokenSource();
        // Cancelled once replay has begun: trailers cleared, checkpoint gone, pages half replayed.
        Assert.ThrowsAny<OperationCanceledException>(() => full.Restore(target, Opts, progress: m => { if (m.StartsWith("replaying", StringComparison.Ordinal)) cts.Cancel(); }, token: cts.Token).Dispose());
        var record = RestoreRecord.Read(target)!;
        Assert.Equal(RestoreStatus.Failed, record.Status);
        Assert.Contains("stopped", record.Error, StringComparison.Ordinal);
        Assert.All(record.Databases, d => Assert.True(d.TrailerChecked));
        Assert.Throws<RestoreException>(() => StorageInstance.Open(target, Opts).Dispose());

        HardRecovery.Run(target, Opts);
        using var restored = StorageInstance.Open(target, Opts);
        Assert.True(StateOf(restored) >= acked);
    }
}
