using System.Diagnostics;
using Xunit.Abstractions;

namespace Blueback.Storage.Tests;

/// <summary>Measures the whole process's memory, so it runs alone, never beside other tests.</summary>
[CollectionDefinition(nameof(MemoryBoundTests), DisableParallelization = true)]
public sealed class MemoryCollection;

/// <summary>A workload many times larger than the cache keeps the cache within its bound, and the process's
/// memory with it (measured, and printed to the test log).</summary>
[Collection(nameof(MemoryBoundTests))]
public class MemoryBoundTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Cache_and_process_stay_within_the_bound_under_a_larger_workload()
    {
        const long cache = 16L << 20;
        using var dir = new TempDir("mem");
        var options = new InstanceOptions { CacheSize = cache, LogGenerationSize = 4 << 20, CheckpointLogBytes = 16 << 20 };
        using var inst = StorageInstance.Create(dir.Path, options);
        var db = inst.CreateDatabase("d");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = Process.GetCurrentProcess().WorkingSet64;
        long maxCache = 0, maxWorkingSet = 0;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                maxCache = Math.Max(maxCache, inst.Cache.Bytes);
                maxWorkingSet = Math.Max(maxWorkingSet, Process.GetCurrentProcess().WorkingSet64);
                Thread.Sleep(2);
            }
        });

        var rng = new Random(42);
        var value = new byte[1000];
        long written = 0;
        int keys = 0;
        // 160 MiB of rows in transactions of 1 MiB, ten times the cache.
        while (written < 160L << 20)
        {
            using var tx = inst.BeginWrite();
            for (int i = 0; i < 1000; i++, keys++)
            {
                rng.NextBytes(value);
                tx.Put(db, "t", BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(keys)), value);
                written += value.Length;
            }
            tx.Commit(CommitMode.Lazy);
        }
        // Random point reads over the whole table: every one may miss the cache.
        using (var r = inst.BeginRead())
        {
            for (int i = 0; i < 50_000; i++)
            {
                int k = rng.Next(keys);
                Assert.NotNull(r.Get(db, "t", BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(k))));
            }
        }
        stop.Cancel();
        await sampler.WaitAsync(TimeSpan.FromSeconds(10));

        long growth = maxWorkingSet - baseline;
        output.WriteLine($"cache bound {cache >> 20} MiB; cache peak {maxCache / (1 << 20):0.0} MiB; wrote {written >> 20} MiB; database file {new FileInfo(db.Path).Length >> 20} MiB; process working set baseline {baseline >> 20} MiB, peak {maxWorkingSet >> 20} MiB (growth {growth >> 20} MiB)");
        // The cache itself: the bound plus one transaction's pages (published at once, then evicted).
        Assert.True(maxCache <= cache + (4L << 20), $"cache peaked at {maxCache >> 20} MiB over a {cache >> 20} MiB bound");
        // The process: the cache, the log buffers (bounded by MaxPendingLogBytes), and the garbage collector's
        // headroom; never anything proportional to the 160 MiB written.
        Assert.True(growth < 120L << 20, $"process grew by {growth >> 20} MiB while writing 160 MiB with a 16 MiB cache");
    }
}
