using System.Text;
using Blueback.IO;
using Blueback.Storage.Backup;
using Blueback.Storage.Diagnostics;
using Xunit.Abstractions;

namespace Blueback.Storage.Tests;

/// <summary>Simulated power cuts (issue 32): an instance under durable writers, checkpoints and backups (each with its
/// truncation and its record in the headers), opened again from what a cut left, round after round, the cuts also
/// falling in the middle of recovery. After each cut: recovery opens it, every commit acknowledged before the cut is
/// there in both databases (a transaction is whole or absent), and every page of every database file verifies once
/// recovery has checkpointed. Half the cuts drop every unflushed write; the other half keep each unflushed 4 KiB page
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

    [Fact(Timeout = 1_200_000)]
    [Trait(Tier.Category, Tier.Stress)]
    public Task Acknowledged_commits_survive_a_thousand_power_cuts() => Task.Run(() => Report(CutRounds(1000, seed: 2026)));

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
        var acked = new List<string>();
        int verifiedUpTo = 0;
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
                        verifiedUpTo = Verify(inst, acked, verifiedUpTo, roundRng, round, counts);
                        acked.AddRange(RunAndCut(inst, layer, next, round, roundRng, counts));
                    }
                    finally
                    {
                        inst.Abandon();
                    }
                }
            }
            Directory.Delete(current, recursive: true);
            current = next;
        }
        using (var last = StorageInstance.Open(current, Options))
        {
            Verify(last, acked, 0, rng, cuts + 1, counts); // every acknowledged commit of the run, once more
        }
        counts.Acknowledged = acked.Count;
        counts.Took = DateTime.UtcNow - started;
        Assert.Equal(cuts, counts.Cuts);
        Assert.True(acked.Count > cuts, $"only {acked.Count} commits acknowledged over {cuts} rounds: the writers hardly ran");
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

    /// <summary>Writers, a checkpointer and (every other round) backups, cut at a random moment; returns the keys
    /// acknowledged before the cut began.</summary>
    private static List<string> RunAndCut(StorageInstance inst, PowerCut layer, string target, int round, Random rng, CutCounts counts)
    {
        var a = inst.GetDatabase("a");
        var b = inst.GetDatabase("b");
        var acks = new List<string>();
        using var stop = new CancellationTokenSource();
        int inCheckpoint = 0, inBackup = 0, backups = 0;
        var writers = Enumerable.Range(0, 3).Select(w => Task.Run(async () =>
        {
            var local = new Random(round * 10 + w);
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                var key = $"r{round:D5}-w{w}-{i:D6}";
                var value = new byte[local.Next(100) < 5 ? local.Next(8_000, 40_000) : local.Next(16, 600)];
                local.NextBytes(value);
                Encoding.ASCII.GetBytes(key).CopyTo(value, 0);
                using (var tx = await inst.BeginWriteAsync().ConfigureAwait(false))
                {
                    tx.Put(a, "t", Encoding.ASCII.GetBytes(key), value);
                    tx.Put(b, "t", Encoding.ASCII.GetBytes(key), value.AsSpan(0, Math.Min(value.Length, 64)));
                    await tx.CommitAsync(CommitMode.Durable).ConfigureAwait(false);
                }
                lock (acks)
                {
                    acks.Add(key);
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
        List<string> before;
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
        return before;
    }

    /// <summary>After recovery: the keys acknowledged since the last check, and 100 older ones drawn at random, are in
    /// both databases with their bytes; then a checkpoint, and every page of both files verifies.</summary>
    private static int Verify(StorageInstance inst, List<string> acked, int from, Random rng, int round, CutCounts counts)
    {
        var a = inst.GetDatabase("a");
        var b = inst.GetDatabase("b");
        var keys = acked.Skip(from).Concat(from == 0 ? [] : Enumerable.Range(0, Math.Min(100, from)).Select(_ => acked[rng.Next(from)]));
        using (var r = inst.BeginRead())
        {
            foreach (var key in keys)
            {
                var k = Encoding.ASCII.GetBytes(key);
                var va = r.Get(a, "t", k);
                Assert.True(va is not null, $"round {round}: commit {key}, acknowledged before a power cut, was lost");
                Assert.True(va.AsSpan(0, k.Length).SequenceEqual(k), $"round {round}: commit {key} came back with other bytes");
                var vb = r.Get(b, "t", k);
                Assert.True(vb is not null && vb.AsSpan().SequenceEqual(va.AsSpan(0, Math.Min(va.Length, 64))), $"round {round}: commit {key} is in database a but not whole in b");
            }
        }
        inst.Checkpoint();
        foreach (var db in inst.Databases)
        {
            var report = DatabaseCheck.Checksum(db.Path);
            Assert.True(report.Ok, $"round {round}: after recovery and a checkpoint, {db.Path} has bad pages: {string.Join("; ", report.Bad.Take(5).Select(p => $"{p.Page} {p.Problem} {p.Detail}"))}");
            counts.PagesChecked += report.Pages;
        }
        return acked.Count;
    }
}
