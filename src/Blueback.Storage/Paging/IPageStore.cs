using Microsoft.Win32.SafeHandles;

namespace Blueback.Storage.Paging;

/// <summary>Where a database's bytes live, under <see cref="DatabaseFile"/> (which keeps the page format, checksums and
/// header on top). A normal database is a file (<see cref="FilePageStore"/>); a mounted backup set's is its chunks in a
/// repository with an overlay for the pages replay changes (docs/restore.md, "Mount"). Offsets are bytes.</summary>
public interface IPageStore : IDisposable
{
    /// <summary>Reads up to <c>into.Length</c> bytes at <paramref name="offset"/>; fewer only at the end.</summary>
    int Read(long offset, Span<byte> into);

    /// <summary>Writes whole pages at a page boundary.</summary>
    void Write(long offset, ReadOnlySpan<byte> data);

    long Length { get; }

    void SetLength(long length);

    void Sync();

    /// <summary>The file's handle, for what only a file has (read-ahead hints, reads around the page cache); null
    /// for a store that is not a file.</summary>
    SafeFileHandle? Handle { get; }
}

/// <summary>Opens the stores of the databases an instance attaches by path; null (the default) means files. A
/// provider that does not hold a path answers false and the file is opened.</summary>
public interface IPageStores
{
    bool TryOpen(string path, bool writable, out IPageStore? store);
}

/// <summary>A database file on disk: the ordinary store.</summary>
public sealed class FilePageStore(SafeFileHandle handle, string path) : IPageStore
{
    public SafeFileHandle? Handle => handle;

    public int Read(long offset, Span<byte> into)
    {
        int total = 0;
        while (total < into.Length)
        {
            int n = RandomAccess.Read(handle, into[total..], offset + total);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }

    public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(handle, data, offset);

    public long Length => RandomAccess.GetLength(handle);

    public void SetLength(long length) => RandomAccess.SetLength(handle, length);

    public void Sync() => IO.FileSystem.DataSync(handle, path);

    public void Dispose() => handle.Dispose();
}
