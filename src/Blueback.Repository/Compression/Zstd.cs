using System.Runtime.InteropServices;

namespace Blueback.Repository.Compression;

/// <summary>The few libzstd calls Blueback needs (the system's libzstd.so.1), through LibraryImport.</summary>
internal static partial class Zstd
{
    private const string Library = "libzstd.so.1";
    private static readonly Lazy<bool> Present = new(() =>
    {
        try
        {
            return VersionNumber() > 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    });

    public static bool IsAvailable => Present.Value;

    // Contexts are kept and reused: ZSTD_compress makes and frees a context of about a megabyte per call, whose
    // fresh pages cost more than compressing a chunk. One per thread at a time; a few kept for the next calls.
    private static readonly System.Collections.Concurrent.ConcurrentBag<nint> CompressContexts = new();
    private static readonly System.Collections.Concurrent.ConcurrentBag<nint> DecompressContexts = new();

    public static unsafe int Compress(ReadOnlySpan<byte> source, Span<byte> destination, int level)
    {
        var cctx = CompressContexts.TryTake(out var kept) ? kept : ZSTD_createCCtx();
        if (cctx == 0)
        {
            throw new InsufficientMemoryException("zstd could not allocate a compression context.");
        }
        try
        {
            fixed (byte* s = source)
            fixed (byte* d = destination)
            {
                nuint n = ZSTD_compressCCtx(cctx, d, (nuint)destination.Length, s, (nuint)source.Length, level);
                Check(n, "compress");
                return (int)n;
            }
        }
        finally
        {
            Keep(CompressContexts, cctx, c => ZSTD_freeCCtx(c));
        }
    }

    public static unsafe int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        var dctx = DecompressContexts.TryTake(out var kept) ? kept : ZSTD_createDCtx();
        if (dctx == 0)
        {
            throw new InsufficientMemoryException("zstd could not allocate a decompression context.");
        }
        try
        {
            fixed (byte* s = source)
            fixed (byte* d = destination)
            {
                nuint n = ZSTD_decompressDCtx(dctx, d, (nuint)destination.Length, s, (nuint)source.Length);
                Check(n, "decompress");
                return (int)n;
            }
        }
        finally
        {
            Keep(DecompressContexts, dctx, c => ZSTD_freeDCtx(c));
        }
    }

    private static void Keep(System.Collections.Concurrent.ConcurrentBag<nint> bag, nint context, Func<nint, nuint> free)
    {
        if (bag.Count < 2 * Environment.ProcessorCount + 4)
        {
            bag.Add(context);
        }
        else
        {
            free(context);
        }
    }

    public static int Bound(int size) => (int)ZSTD_compressBound((nuint)size);

    private static void Check(nuint result, string what)
    {
        if (ZSTD_isError(result) != 0)
        {
            throw new InvalidDataException($"zstd {what} failed: {Marshal.PtrToStringAnsi(ZSTD_getErrorName(result))}");
        }
    }

    private static uint VersionNumber() => ZSTD_versionNumber();

    [LibraryImport(Library)]
    private static partial uint ZSTD_versionNumber();

    [LibraryImport(Library)]
    private static partial nuint ZSTD_compressBound(nuint srcSize);


    [LibraryImport(Library)]
    private static partial uint ZSTD_isError(nuint code);

    [LibraryImport(Library)]
    private static partial nint ZSTD_createCCtx();

    [LibraryImport(Library)]
    private static partial nuint ZSTD_freeCCtx(nint cctx);

    [LibraryImport(Library)]
    private static unsafe partial nuint ZSTD_compressCCtx(nint cctx, byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int compressionLevel);

    [LibraryImport(Library)]
    private static partial nint ZSTD_createDCtx();

    [LibraryImport(Library)]
    private static partial nuint ZSTD_freeDCtx(nint dctx);

    [LibraryImport(Library)]
    private static unsafe partial nuint ZSTD_decompressDCtx(nint dctx, byte* dst, nuint dstCapacity, byte* src, nuint compressedSize);

    [LibraryImport(Library)]
    private static partial nint ZSTD_getErrorName(nuint code);
}
