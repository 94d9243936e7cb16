using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Blueback.Repository.Compression;

namespace Blueback.Bench;

/// <summary>What one core does per second with a backup's bytes, on this CPU: SHA-256 (the framework's, with the
/// CPU's SHA extensions where it has them), BLAKE3 (the Blake3 package, managed SIMD), CRC32C, and zstd level 1
/// both ways, over 8 MiB chunks of incompressible and of compressible content. The figures bound what a backup can
/// reach per core, and choose the chunk hash.</summary>
internal static class HashBench
{
    public static void Run(double seconds)
    {
        var random = new byte[8 << 20];
        new Random(5).NextBytes(random);
        var text = new byte[8 << 20];
        var md5 = MD5.HashData("0"u8);
        for (int i = 0; i < text.Length; i += 4096)
        {
            // Half the chunk 16 bytes repeated, half random: the wire bench's rows, about 2:1.
            if (i / 4096 % 2 == 0)
            {
                for (int j = 0; j < 4096; j += 16)
                {
                    md5.CopyTo(text, i + j);
                }
            }
            else
            {
                random.AsSpan(i, 4096).CopyTo(text.AsSpan(i));
            }
        }
        var codec = Codec.Default();
        var stored = new byte[codec.MaxStoredSize(random.Length)];
        var back = new byte[random.Length];
        var hash = new byte[32];
        Console.WriteLine($"one core, 8 MiB chunks, {codec.Name}:");
        Console.WriteLine("| work | incompressible GB/s | half compressible GB/s |");
        Console.WriteLine("|---|---:|---:|");
        Row("SHA-256 (framework)", seconds, random, text, b => SHA256.HashData(b, hash));
        Row("BLAKE3 (Blake3 3.0.2)", seconds, random, text, b => Blake3.Hasher.Hash(b, hash));
        Row("CRC32C", seconds, random, text, b => IO.Crc32C.Compute(0, b));
        Row("zstd-1 compress", seconds, random, text, b => codec.Compress(b, stored));
        int randomStored = codec.Compress(random, stored);
        var randomCopy = stored.AsSpan(0, randomStored).ToArray();
        int textStored = codec.Compress(text, stored);
        var textCopy = stored.AsSpan(0, textStored).ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"(stored / raw: incompressible {(double)randomStored / random.Length:0.000}, half compressible {(double)textStored / text.Length:0.000})"));
        Row("zstd-1 decompress", seconds, randomCopy, textCopy, b => codec.Decompress(b, back));
    }

    private static void Row(string name, double seconds, byte[] a, byte[] b, Action<byte[]> work)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Rate(a, work, seconds):0.00} | {Rate(b, work, seconds):0.00} |"));
    }

    /// <summary>Raw gigabytes per second (of the 8 MiB the input stands for).</summary>
    private static double Rate(byte[] input, Action<byte[]> work, double seconds)
    {
        work(input); // warm-up
        var sw = Stopwatch.StartNew();
        long n = 0;
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            work(input);
            n++;
        }
        return n * (8.0 * (1 << 20)) / sw.Elapsed.TotalSeconds / 1e9;
    }
}
