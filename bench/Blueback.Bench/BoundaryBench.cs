using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Blueback.Storage;

namespace Blueback.Bench;

/// <summary>Chunk boundaries for dedup, measured: page-aligned fixed-size chunks (what the repository does) against
/// content-defined chunks (a gear rolling hash, FastCDC's normalized cut rule, as restic and kopia use) on a database
/// whose rows move between pages. The database is loaded, its file copied (image A); then rows are inserted between the
/// existing keys (leaves split, and about half of each split leaf's rows move to a new page), some deleted and some
/// rewritten; the file is copied again (image B). For each chunking, the bytes of B in chunks that A does not hold are
/// what a second backup would store.</summary>
internal static class BoundaryBench
{
    public static void Run(string root, long bytes)
    {
        Run(root, bytes, spread: true);
        Run(root, bytes, spread: false);
    }

    private static void Run(string root, long bytes, bool spread)
    {
        var ci = CultureInfo.InvariantCulture;
        var dir = Path.Combine(root, "boundary");
        var a = Path.Combine(root, "boundary-a.bdb");
        var b = Path.Combine(root, "boundary-b.bdb");
        long rows = bytes / 1024;
        var rng = new Random(23);
        var value = new byte[900];
        using (var inst = StorageInstance.Create(dir, new InstanceOptions { LogGenerationSize = 64 << 20 }))
        {
            var db = inst.CreateDatabase("mailbox");
            for (long i = 0; i < rows;)
            {
                using var tx = inst.BeginWrite();
                for (int j = 0; j < 1000 && i < rows; j++, i++)
                {
                    rng.NextBytes(value);
                    tx.Put(db, "t", Encoding.UTF8.GetBytes($"k{i * 10:D12}"), value);
                }
                tx.Commit(CommitMode.Lazy);
            }
            inst.Checkpoint();
            File.Copy(Path.Combine(dir, "mailbox.bdb"), a, overwrite: true);
            // 2% of rows inserted between existing keys (each in a random leaf: splits move rows between pages), 0.5%
            // deleted, 0.5% rewritten.
            for (long n = 0; n < rows / 50;)
            {
                using var tx = inst.BeginWrite();
                for (int j = 0; j < 500 && n < rows / 50; j++, n++)
                {
                    rng.NextBytes(value);
                    long at = spread ? rng.NextInt64(rows) : rows / 2 + rng.NextInt64(rows / 20); // or within 5% of the keys
                    tx.Put(db, "t", Encoding.UTF8.GetBytes($"k{at * 10 + 5:D12}"), value);
                    if (j % 4 == 0)
                    {
                        tx.Delete(db, "t", Encoding.UTF8.GetBytes($"k{(spread ? rng.NextInt64(rows) : at) * 10:D12}"));
                    }
                    else if (j % 4 == 1)
                    {
                        tx.Put(db, "t", Encoding.UTF8.GetBytes($"k{(spread ? rng.NextInt64(rows) : rows / 2 + rng.NextInt64(rows / 20)) * 10:D12}"), value);
                    }
                }
                tx.Commit(CommitMode.Lazy);
            }
            inst.Checkpoint();
            File.Copy(Path.Combine(dir, "mailbox.bdb"), b, overwrite: true);
        }
        var imageA = File.ReadAllBytes(a);
        var imageB = File.ReadAllBytes(b);
        Console.WriteLine(string.Create(ci, $"boundaries: image A {imageA.Length >> 20} MiB, image B {imageB.Length >> 20} MiB ({rows:N0} rows of 900 bytes; 2% inserted between keys, 0.5% deleted, 0.5% rewritten, {(spread ? "at random over all keys" : "within 5% of the keys")})"));
        Console.WriteLine("| chunking | average chunk | chunks of B | new bytes of B | new % | chunking MB/s |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (int size in new[] { 8 << 20, 1 << 20, 64 << 10 })
        {
            Report($"page-aligned fixed {Size(size)}", imageA, imageB, data => Fixed(data, size));
        }
        foreach (int size in new[] { 1 << 20, 64 << 10 })
        {
            Report($"content-defined (gear), average {Size(size)}", imageA, imageB, data => ContentDefined(data, size));
        }
        Directory.Delete(dir, recursive: true);
        File.Delete(a);
        File.Delete(b);
    }

    private static string Size(int bytes) => bytes >= 1 << 20 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";

    private static void Report(string name, byte[] a, byte[] b, Func<byte[], List<(int Start, int Length)>> chunk)
    {
        var known = chunk(a).Select(c => Convert.ToHexString(SHA256.HashData(a.AsSpan(c.Start, c.Length)))).ToHashSet();
        var sw = Stopwatch.StartNew();
        var chunksB = chunk(b);
        var rate = name.StartsWith("content", StringComparison.Ordinal) ? (b.Length / 1e6 / sw.Elapsed.TotalSeconds).ToString("0", CultureInfo.InvariantCulture) : "-";
        long fresh = chunksB.Where(c => !known.Contains(Convert.ToHexString(SHA256.HashData(b.AsSpan(c.Start, c.Length))))).Sum(c => (long)c.Length);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {b.Length / chunksB.Count / 1024.0:0} KiB | {chunksB.Count:N0} | {fresh / 1048576.0:0.0} MiB | {100.0 * fresh / b.Length:0.00}% | {rate:0} |"));
    }

    private static List<(int, int)> Fixed(byte[] data, int size)
    {
        var list = new List<(int, int)>();
        for (int at = 0; at < data.Length; at += size)
        {
            list.Add((at, Math.Min(size, data.Length - at)));
        }
        return list;
    }

    private static readonly ulong[] Gear = MakeGear();

    private static ulong[] MakeGear()
    {
        var rng = new Random(1);
        var g = new ulong[256];
        for (int i = 0; i < 256; i++)
        {
            g[i] = (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 32);
        }
        return g;
    }

    /// <summary>FastCDC's cut rule: a gear hash, a stricter mask before the average size and a looser one after it
    /// (normalized chunking), sizes bounded to [average/4, average*4].</summary>
    private static List<(int, int)> ContentDefined(byte[] data, int average)
    {
        int bits = (int)Math.Log2(average);
        ulong strict = (1UL << (bits + 2)) - 1 << (64 - bits - 2), loose = (1UL << (bits - 2)) - 1 << (64 - bits + 2);
        int min = average / 4, max = average * 4;
        var list = new List<(int, int)>();
        int start = 0;
        while (start < data.Length)
        {
            int end = Math.Min(data.Length, start + max), i = Math.Min(end, start + min);
            ulong h = 0;
            int cut = end;
            for (; i < end; i++)
            {
                h = (h << 1) + Gear[data[i]];
                if ((h & (i - start < average ? strict : loose)) == 0)
                {
                    cut = i + 1;
                    break;
                }
            }
            list.Add((start, cut - start));
            start = cut;
        }
        return list;
    }
}
