using System.Text;
using Blueback.IO;
using Blueback.Storage.Backup;
using Blueback.Storage.Diagnostics;
using Xunit.Abstractions;

namespace Blueback.Storage.Tests;

/// <summary>Simulated power cuts (issue 32): an instance under durable writers, checkpoints and backups (each with its
/// truncation and its record in the headers), opened again from what a cut left, round after round, the cuts also
/// falling in the middle of recovery. Three writers overwrite 200 slots each (a version in every value, so the instance
/// stays small over a thousand rounds). After each cut: recovery opens it, every slot holds at least the version last
/// acknowledged before the cut, the same in both databases (a transaction is whole or absent), and every page of every
/// database file verifies once recovery has checkpointed. Half the cuts drop every unflushed write; the other half keep each unflushed 4 KiB page
/// at random (torn writes). The layer: Blueback.IO/PowerCut.cs, its own checks in <see cref="PowerCutTests"/>.</summary>
public class PowerCutEngineTests(ITestOutputHelper output)
{
    private static readonly InstanceOptions Options = new()
    {
        LogGenerationSize = 128 << 10,
        CacheSize = 4L << 20,
        CheckpointLogBytes = 1 << 20,
        WaitTimeout = TimeSpan.FromSeconds(30),
    };

    [Fact(Timeout = 120_000)]
    public Task Acknowledged_commits_survive_twelve_power_cuts() => Task.Run(() => Report(CutRounds(12, seed: 3)));

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public Task Acknowledged_commits_survive_a_hundred_power_cuts() => Task.Run(() => Report(CutRounds(100, seed: 17)));

    // 1,000 cuts take 9 to 10 minutes alone on two cores, more than CI's stress run can give one test beside the others
    // (and ./test's 10-minute hang bound): CI runs 300 (about 3 minutes); the 1,000-cut figures in docs/reliability.md
    // come from runs of this test with other seeds (BLUEBACK_POWER_CUT_SEED), each within the bound below.
    [Fact(Timeout = 900_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public Task Acknowledged_commits_survive_three_hundred_power_cuts() =>
        Task.Run(() => Report(CutRounds(Asked("BLUEBACK_POWER_CUTS", 300), seed: Asked("BLUEBACK_POWER_CUT_SEED", 2026))));

    /// <summary>A long run's count or seed, from the environment, else <paramref name="otherwise"/>.</summary>
    internal static int Asked(string variable, int otherwise) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), out int n) && n > 0 ? n : otherwise;

    private void Report(CutCounts c) => output.WriteLine(c.ToString());

    /// <summary>What a run of cuts did (the test's output; docs/reliability.md has a run's figures).</summary>
    internal sealed record CutCounts
    {
        public int Cuts { get; set; }
        public int DuringRecovery { get; set; }
        public int DuringCheckpoint { get; set; }
        public int DuringBackup { get; set; }
        public int Torn { get; set; }
        public long PagesDropped { get; set; }
        public long PagesKept { get; set; }
        public long OutOfOrderSyncs { get; set; }
        public int Acknowledged { get; set; }
        public int Backups { get; set; }
        public long PagesChecked { get; set; }
        public TimeSpan Took { get; set; }
    }

    internal static CutCounts CutRounds(int cuts, int seed)
    {
        var started = DateTime.UtcNow;
        using var dir = new TempDir("power");
        var rng = new Random(seed);
        var counts = new CutCounts();
        string current = dir["r0"];
        using (var inst = StorageInstance.Create(current, Options))
        {
            inst.CreateDatabase("a");
            inst.CreateDatabase("b", 4096);
        }
        var versions = new Versions();
        int acked = 0;
        for (int round = 1; round <= cuts; round++)
        {
            string next = dir[$"r{round}"];
            var roundRng = new Random(rng.Next());
            using (var layer = new PowerCut(current))
            {
                var opening = Task.Run(() => StorageInstance.Open(current, Options));
                if (roundRng.Next(5) == 0)
                {
                    // The cut falls while recovery runs (or just after it).
                    Thread.Sleep(roundRng.Next(0, 40));
                    bool during = !opening.IsCompleted;
                    Cut(layer, next, roundRng, counts);
                    counts.DuringRecovery += during ? 1 : 0;
                    Assert.True(opening.Wait(TimeSpan.FromSeconds(60)), $"round {round}: the open did not end within 60 s");
                    opening.Result.Abandon();
                }
                else
                {
                    Assert.True(opening.Wait(TimeSpan.FromSeconds(60)), $"round {round}: the open did not end within 60 s");
                    var inst = opening.Result;
                    try
                    {
                        Verify(inst, versions, round, counts);
                        acked += RunAndCut(inst, next, layer, versions, round, roundRng, counts);
                    }
                    finally
                    {
                        inst.Abandon();
                    }
                }
                counts.OutOfOrderSyncs += layer.OutOfOrderSyncs;
            }
            Directory.Delete(current, recursive: true);
            current = next;
        }
        using (var last = StorageInstance.Open(current, Options))
        {
            Verify(last, versions, cuts + 1, counts);
        }
        counts.Acknowledged = acked;
        counts.Took = DateTime.UtcNow - started;
        Assert.Equal(cuts, counts.Cuts);
        Assert.True(acked > cuts, $"only {acked} commits acknowledged over {cuts} rounds: the writers hardly ran");
        return counts;
    }

    private static void Cut(PowerCut layer, string target, Random rng, CutCounts counts)
    {
        double keep = rng.Next(2) == 0 ? 0 : 0.5;
        var r = layer.Cut(target, rng, keep);
        counts.Cuts++;
        counts.Torn += r.TornFiles;
        counts.PagesDropped += r.PagesDropped;
        counts.PagesKept += r.PagesKept;
    }

    /// <summary>Writers, a checkpointer and (every other round) backups, cut at a random moment; returns how many
    /// commits were acknowledged before the cut began (each slot's highest is in <paramref name="versions"/>).</summary>
    private static int RunAndCut(StorageInstance inst, string target, PowerCut layer, Versions versions, int round, Random rng, CutCounts counts)
    {
        var a = inst.GetDatabase("a");
        var b = inst.GetDatabase("b");
        var acks = new List<(int Slot, long Version)>();
        long attempted = 0;
        using var stop = new CancellationTokenSource();
        int inCheckpoint = 0, inBackup = 0, backups = 0;
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var local = new Random(round * 10 + w);
            for (long version = versions.Max(w); !stop.IsCancellationRequested;)
            {
                version++;
                lock (acks)
                {
                    attempted = Math.Max(attempted, version); // before the commit: an unanswered one may survive the cut
                }
                int slot = (w * Slots) + local.Next(Slots);
                var key = Encoding.ASCII.GetBytes($"s{slot:D4}");
                var value = new byte[local.Next(100) < 5 ? local.Next(8_000, 40_000) : local.Next(16, 600)];
                local.NextBytes(value);
                BitConverter.TryWriteBytes(value, version);
                using (var tx = await inst.BeginWriteAsync().ConfigureAwait(false))
                {
                    tx.Put(a, "t", key, value);
                    tx.Put(b, "t", key, value.AsSpan(0, Math.Min(value.Length, 64)));
                    await tx.CommitAsync(CommitMode.Durable).ConfigureAwait(false);
                }
                lock (acks)
                {
                    acks.Add((slot, version));
                }
            }
        })).ToArray();
        // Threads of their own (they block): on two cores the pool would start them late, after the cut.
        var checkpointer = Task.Factory.StartNew(() =>
        {
            var local = new Random(round);
            while (!stop.IsCancellationRequested)
            {
                Thread.Sleep(local.Next(2, 25));
                Volatile.Write(ref inCheckpoint, 1);
                inst.Checkpoint();
                Volatile.Write(ref inCheckpoint, 0);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var backup = Task.Factory.StartNew(() =>
        {
            if (round % 2 == 0)
            {
                var local = new Random(round);
                while (!stop.IsCancellationRequested)
                {
                    Volatile.Write(ref inBackup, 1);
                    bool hasFull = inst.Databases.All(d => !d.Header.LastFull.IsEmpty);
                    BackupMedia.Take(inst, hasFull && local.Next(2) == 0 ? BackupType.Incremental : BackupType.Full);
                    Volatile.Write(ref inBackup, 0);
                    Interlocked.Increment(ref backups);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Thread.Sleep(rng.Next(5, 150));
        List<(int Slot, long Version)> before;
        lock (acks)
        {
            before = [.. acks]; // acknowledged before the cut began: each must survive it
        }
        bool duringCheckpoint = Volatile.Read(ref inCheckpoint) == 1, duringBackup = Volatile.Read(ref inBackup) == 1;
        Cut(layer, target, rng, counts);
        counts.DuringCheckpoint += duringCheckpoint ? 1 : 0;
        counts.DuringBackup += duringBackup ? 1 : 0;
        stop.Cancel();
        var all = writers.Append(checkpointer).Append(backup).ToArray();
        Assert.True(Task.WaitAll(all, TimeSpan.FromSeconds(60)), $"round {round}: the writers, checkpoints and backups did not stop within 60 s");
        counts.Backups += backups;
        versions.Attempted = Math.Max(versions.Attempted, attempted);
        foreach (var (slot, v) in before)
        {
            versions.Acked[slot] = Math.Max(versions.Acked[slot], v);
        }
        return before.Count;
    }

    /// <summary>After recovery: in every slot, the version in database a is at least the last one acknowledged before
    /// the cut (that commit, or a later one, is there), no newer than any written, and the same in database b (each
    /// transaction whole or absent); then a checkpoint, and every page of both files verifies.</summary>
    private static void Verify(StorageInstance inst, Versions versions, int round, CutCounts counts)
    {
        var a = inst.GetDatabase("a");
        var b = inst.GetDatabase("b");
        using (var r = inst.BeginRead())
        {
            for (int slot = 0; slot < Writers * Slots; slot++)
            {
                var k = Encoding.ASCII.GetBytes($"s{slot:D4}");
                var va = r.Get(a, "t", k);
                var vb = r.Get(b, "t", k);
                long found = va is null ? 0 : BitConverter.ToInt64(va);
                Assert.True(found >= versions.Acked[slot], $"round {round}: slot {slot} holds version {found}, but version {versions.Acked[slot]} was acknowledged before a power cut: a commit was lost");
                Assert.True(found <= versions.Attempted, $"round {round}: slot {slot} holds version {found}, never written");
                Assert.True(va is null ? vb is null : vb is not null && vb.AsSpan().SequenceEqual(va.AsSpan(0, Math.Min(va.Length, 64))), $"round {round}: slot {slot}'s transaction is not whole: databases a and b differ");
            }
        }
        inst.Checkpoint();
        foreach (var db in inst.Databases)
        {
            var report = DatabaseCheck.Checksum(db.Path);
            Assert.True(report.Ok, $"round {round}: after recovery and a checkpoint, {db.Path} has bad pages: {string.Join("; ", report.Bad.Take(5).Select(p => $"{p.Page} {p.Problem} {p.Detail}"))}");
            counts.PagesChecked += report.Pages;
        }
    }

    private const int Writers = 3;
    private const int Slots = 200;

    /// <summary>Per slot, the highest version acknowledged before a cut; the highest version any writer wrote.</summary>
    internal sealed class Versions
    {
        public long[] Acked { get; } = new long[Writers * Slots];
        public long Attempted { get; set; }

        /// <summary>Where writer <paramref name="w"/> starts: above anything written before (versions only grow).</summary>
        public long Max(int w) => Attempted + (w * (1L << 40));
    }
}
