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

    public static unsafe int Compress(ReadOnlySpan<byte> source, Span<byte> destination, int level)
    {
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            nuint n = ZSTD_compress(d, (nuint)destination.Length, s, (nuint)source.Length, level);
            Check(n, "compress");
            return (int)n;
        }
    }

    public static unsafe int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            nuint n = ZSTD_decompress(d, (nuint)destination.Length, s, (nuint)source.Length);
            Check(n, "decompress");
            return (int)n;
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
    private static unsafe partial nuint ZSTD_compress(byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int compressionLevel);

    [LibraryImport(Library)]
    private static unsafe partial nuint ZSTD_decompress(byte* dst, nuint dstCapacity, byte* src, nuint compressedSize);

    [LibraryImport(Library)]
    private static partial uint ZSTD_isError(nuint code);

    [LibraryImport(Library)]
    private static partial nint ZSTD_getErrorName(nuint code);
}
