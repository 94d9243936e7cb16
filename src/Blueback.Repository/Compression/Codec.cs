using System.IO.Compression;

namespace Blueback.Repository.Compression;

/// <summary>How chunks are stored. The manifest records the codec of every set, so a reader never guesses.</summary>
public abstract class Codec
{
    public abstract string Name { get; }

    /// <summary>The most bytes <see cref="Compress"/> can write for <paramref name="rawSize"/> raw bytes.</summary>
    public abstract int MaxStoredSize(int rawSize);

    /// <summary>Compresses one chunk into <paramref name="destination"/> (at least <see cref="MaxStoredSize"/>
    /// long); returns the stored length.</summary>
    public abstract int Compress(ReadOnlySpan<byte> raw, Span<byte> destination);

    /// <summary>True when stored bytes are the raw bytes (a writer may store its raw buffer as it is).</summary>
    public virtual bool StoresRaw => false;

    /// <summary>Restores a chunk of known raw size.</summary>
    public abstract void Decompress(ReadOnlySpan<byte> stored, Span<byte> raw);

    public static Codec None { get; } = new NoneCodec();

    /// <summary>zstd through the system's libzstd when it is there; otherwise Brotli from the framework (slower,
    /// and reported as such in the manifest and by the backup command).</summary>
    public static Codec Default(int level = 1) => Zstd.IsAvailable ? new ZstdCodec(level) : new BrotliCodec();

    public static Codec ByName(string name) => name switch
    {
        "none" => None,
        "brotli" => new BrotliCodec(),
        _ when name.StartsWith("zstd", StringComparison.Ordinal) => Zstd.IsAvailable
            ? new ZstdCodec(1)
            : throw new InvalidOperationException("This set is compressed with zstd, but libzstd.so.1 is not installed on this machine: install the zstd library (Debian: libzstd1)."),
        _ => throw new InvalidDataException($"Unknown codec '{name}' in the manifest; this build knows none, zstd and brotli."),
    };

    private sealed class NoneCodec : Codec
    {
        public override string Name => "none";
        public override bool StoresRaw => true;
        public override int MaxStoredSize(int rawSize) => rawSize;

        public override int Compress(ReadOnlySpan<byte> raw, Span<byte> destination)
        {
            raw.CopyTo(destination);
            return raw.Length;
        }
        public override void Decompress(ReadOnlySpan<byte> stored, Span<byte> raw)
        {
            if (stored.Length != raw.Length)
            {
                throw new InvalidDataException($"stored chunk is {stored.Length} bytes, expected {raw.Length}");
            }
            stored.CopyTo(raw);
        }
    }

    private sealed class ZstdCodec(int level) : Codec
    {
        public override string Name => $"zstd-{level}";

        public override int MaxStoredSize(int rawSize) => Math.Max(Zstd.Bound(rawSize), ZstdRawFrame.Size(rawSize));

        public override int Compress(ReadOnlySpan<byte> raw, Span<byte> destination) =>
            ZstdRawFrame.LooksIncompressible(raw, destination, level)
                ? ZstdRawFrame.Write(raw, destination)
                : Zstd.Compress(raw, destination, level);

        public override void Decompress(ReadOnlySpan<byte> stored, Span<byte> raw)
        {
            int n = Zstd.Decompress(stored, raw);
            if (n != raw.Length)
            {
                throw new InvalidDataException($"zstd chunk decompressed to {n} bytes, expected {raw.Length}");
            }
        }
    }

    private sealed class BrotliCodec : Codec
    {
        public override string Name => "brotli";

        public override int MaxStoredSize(int rawSize) => BrotliEncoder.GetMaxCompressedLength(rawSize);

        public override int Compress(ReadOnlySpan<byte> raw, Span<byte> destination)
        {
            if (!BrotliEncoder.TryCompress(raw, destination, out int n, quality: 1, window: 22))
            {
                throw new InvalidOperationException("Brotli compression failed.");
            }
            return n;
        }

        public override void Decompress(ReadOnlySpan<byte> stored, Span<byte> raw)
        {
            if (!BrotliDecoder.TryDecompress(stored, raw, out int n) || n != raw.Length)
            {
                throw new InvalidDataException("Brotli chunk does not decompress to its recorded size.");
            }
        }
    }
}
