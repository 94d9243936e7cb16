using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Paging;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Backup.Mounting;

/// <summary>A database image of a backup set, read where it lies: a read maps to the chunk holding those bytes, which
/// the cache fetches and checks once. Pages written (hard recovery's replay, the header, the checkpoint's flushes)
/// go to an overlay file beside the cache and are read from there afterwards: the repository is never written.</summary>
public sealed class MountedImage : IDisposable
{
    private readonly Lock _lock = new();
    private readonly HashSet<long> _overlaid = [];
    private readonly long[] _starts;
    private readonly SafeFileHandle _overlay;
    private long _length;

    public MountedImage(string path, Manifest set, ManifestFile file, int pageSize, ChunkCache cache, string overlayPath,
        Func<ManifestChunk, CancellationToken, Task<(byte[] Content, long StoredBytes)>> fetch)
    {
        Path = path;
        Set = set;
        File = file;
        PageSize = pageSize;
        Cache = cache;
        Fetch = fetch;
        _starts = new long[file.Chunks.Count];
        long at = 0;
        for (int i = 0; i < _starts.Length; i++)
        {
            _starts[i] = at;
            at += file.Chunks[i].RawSize;
        }
        if (at != file.Size || file.Size % pageSize != 0)
        {
            throw new RepositoryException($"set {set.SetId}, file {file.Path}: its chunks hold {at} bytes, its manifest says {file.Size} (page size {pageSize}). Run 'blueback verify --set {set.SetId}'.");
        }
        _length = file.Size;
        _overlay = System.IO.File.OpenHandle(overlayPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
    }

    public string Path { get; }
    public Manifest Set { get; }
    public ManifestFile File { get; }
    public int PageSize { get; }
    private ChunkCache Cache { get; }
    private Func<ManifestChunk, CancellationToken, Task<(byte[] Content, long StoredBytes)>> Fetch { get; }

    /// <summary>Pages held in the overlay (changed since the set).</summary>
    public int OverlaidPages
    {
        get
        {
            lock (_lock)
            {
                return _overlaid.Count;
            }
        }
    }

    public long Length
    {
        get
        {
            lock (_lock)
            {
                return _length;
            }
        }
    }

    public int Read(long offset, Span<byte> into)
    {
        long end = Math.Min(offset + into.Length, Length);
        int done = 0;
        while (offset + done < end)
        {
            long at = offset + done;
            long page = at / PageSize;
            int n = (int)Math.Min(end - at, (page + 1) * PageSize - at);
            var part = into.Slice(done, n);
            bool overlaid;
            lock (_lock)
            {
                overlaid = _overlaid.Contains(page);
            }
            if (overlaid)
            {
                RandomAccess.Read(_overlay, part, at);
            }
            else if (at >= File.Size)
            {
                part.Clear(); // grown past the image and never written: an empty page, as a file reads
            }
            else
            {
                n = ReadImage(at, part);
            }
            done += n;
        }
        return done;
    }

    /// <summary>Reads from the chunk holding <paramref name="at"/>, up to its end.</summary>
    private int ReadImage(long at, Span<byte> into)
    {
        int i = Array.BinarySearch(_starts, at);
        i = i >= 0 ? i : ~i - 1;
        var chunk = File.Chunks[i];
        int n = (int)Math.Min(into.Length, _starts[i] + chunk.RawSize - at);
        Cache.Read(chunk.Key, (int)(at - _starts[i]), into[..n], ct => Fetch(chunk, ct));
        return n;
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (offset % PageSize != 0 || data.Length % PageSize != 0)
        {
            throw new StorageException($"A write of {data.Length} bytes at offset {offset} of mounted database '{Path}' is not of whole pages ({PageSize} bytes): a mounted set's overlay takes whole pages only.");
        }
        RandomAccess.Write(_overlay, data, offset);
        lock (_lock)
        {
            for (long p = offset / PageSize; p < (offset + data.Length) / PageSize; p++)
            {
                _overlaid.Add(p);
            }
            _length = Math.Max(_length, offset + data.Length);
        }
    }

    public void SetLength(long length)
    {
        lock (_lock)
        {
            _length = length;
        }
    }

    public void Dispose() => _overlay.Dispose();

    /// <summary>What the engine opens: a view of the image whose disposal leaves the image (opened again and again by
    /// hard recovery and the instance) as it is. Sync does nothing: the overlay is scratch, rebuilt at every mount.</summary>
    internal sealed class View(MountedImage image) : IPageStore
    {
        public int Read(long offset, Span<byte> into) => image.Read(offset, into);
        public void Write(long offset, ReadOnlySpan<byte> data) => image.Write(offset, data);
        public long Length => image.Length;
        public void SetLength(long length) => image.SetLength(length);
        public void Sync()
        {
        }
        public SafeFileHandle? Handle => null;
        public void Dispose()
        {
        }
    }
}

/// <summary>The mounted images by database path: what the instance's <see cref="Storage.InstanceOptions.PageStores"/>
/// opens. Paths it does not hold are files.</summary>
public sealed class MountedImages : IPageStores, IDisposable
{
    private readonly Dictionary<string, MountedImage> _images = new(StringComparer.Ordinal);

    public void Add(MountedImage image) => _images.Add(System.IO.Path.GetFullPath(image.Path), image);

    public IReadOnlyCollection<MountedImage> All => _images.Values;

    public bool TryOpen(string path, bool writable, out IPageStore? store)
    {
        store = _images.TryGetValue(System.IO.Path.GetFullPath(path), out var image) ? new MountedImage.View(image) : null;
        return store is not null;
    }

    public void Dispose()
    {
        foreach (var i in _images.Values)
        {
            i.Dispose();
        }
    }
}
