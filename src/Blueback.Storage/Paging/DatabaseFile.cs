using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.BTree;
using Blueback.Storage.Format;
using Microsoft.Win32.SafeHandles;

namespace Blueback.Storage.Paging;

/// <summary>A database file: fixed-size pages, the header on pages 0 and 1. Raw page I/O and header I/O only;
/// what the pages mean is the B+tree's business. The bytes live in an <see cref="IPageStore"/>: a file, or a mounted
/// backup set's chunks and overlay.</summary>
internal sealed class DatabaseFile : IDisposable
{
    private const long MinExtent = 1 << 20;
    private const long MaxExtent = 64L << 20;
    private readonly Lock _growLock = new();

    /// <summary>Held while a page is written and while a backup reads a range of pages, so that a backup never
    /// reads a page half-written. A writer waits at most for one range read.</summary>
    internal Lock RangeLock { get; } = new();
    private long _physicalLength;

    private DatabaseFile(string path, IPageStore store, int pageSize)
    {
        Path = path;
        Store = store;
        PageSize = pageSize;
        _physicalLength = store.Length;
    }

    public string Path { get; }
    public IPageStore Store { get; }
    public int PageSize { get; }

    /// <summary>The file's handle; a database that is not a file (a mounted backup set's) has none.</summary>
    public SafeFileHandle Handle => Store.Handle
        ?? throw new StorageException($"Database '{Path}' is read from a mounted backup set, not from a file: this operation needs the file. Restore the set ('blueback restore') to work on its files.");

    /// <summary>The store's length in bytes (the file's, or the mounted image's).</summary>
    public long Length => Store.Length;

    /// <summary>Whether a database is there: in <paramref name="stores"/> when it holds the path, else on disk.</summary>
    public static bool Exists(string path, IPageStores? stores = null)
    {
        if (stores is not null && stores.TryOpen(path, writable: false, out var store))
        {
            store!.Dispose();
            return true;
        }
        return File.Exists(path);
    }

    public static DatabaseFile Open(string path, bool writable = true, IPageStores? stores = null)
    {
        IPageStore? store = null;
        if (stores is null || !stores.TryOpen(path, writable, out store))
        {
            if (!File.Exists(path))
            {
                throw new StorageException($"Database file '{path}' does not exist. Check the path, or restore the database from a backup.");
            }
            store = new FilePageStore(File.OpenHandle(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read, FileShare.ReadWrite | FileShare.Delete), path);
        }
        try
        {
            var header = ReadHeader(store!, path);
            return new DatabaseFile(path, store!, (int)header.PageSize);
        }
        catch
        {
            store!.Dispose();
            throw;
        }
    }

    /// <summary>Creates a new database file with its header, space root and empty catalog, flushed to disk.</summary>
    public static DatabaseFile Create(string path, int pageSize, Signature databaseSignature, Signature logSignature)
    {
        if (!FormatConstants.IsValidPageSize(pageSize))
        {
            throw new StorageLimitException($"Page size {pageSize} is not valid: use a power of two from {FormatConstants.MinPageSize} to {FormatConstants.MaxPageSize} bytes.");
        }
        if (File.Exists(path))
        {
            throw new StorageException($"Database file '{path}' already exists. Attach it instead, or choose another name.");
        }
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, FileOptions.None, preallocationSize: MinExtent);
        var file = new DatabaseFile(path, new FilePageStore(handle, path), pageSize);
        var header = new DatabaseHeader
        {
            PageSize = (uint)pageSize,
            State = DatabaseState.JustCreated,
            DatabaseSignature = databaseSignature,
            LogSignature = logSignature,
        };
        file.WriteHeader(ref header);
        var page = new byte[pageSize];
        SpaceRoot.Initialize(page, FormatConstants.FirstDataPage);
        file.WritePage(FormatConstants.SpaceRootPage, page);
        Array.Clear(page);
        NodeInit(page, FormatConstants.CatalogRootPage);
        file.WritePage(FormatConstants.CatalogRootPage, page);
        file.Sync();
        FileSystem.SyncDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        return file;
    }

    private static void NodeInit(Span<byte> page, uint pageNo)
    {
        ref var h = ref PageHeader.Of(page);
        h.PageNumber = pageNo;
        h.Type = PageType.Leaf;
        h.FreeStart = PageHeader.SizeOf;
        h.FreeEnd = (ushort)Math.Min(page.Length, ushort.MaxValue);
    }

    /// <summary>Reads a page and verifies its checksum and page number. An all-zero page (never written) reads
    /// as zeros.</summary>
    public void ReadPage(uint pageNo, Span<byte> into)
    {
        ReadRaw(pageNo, into);
        VerifyPage(pageNo, into);
    }

    public void VerifyPage(uint pageNo, ReadOnlySpan<byte> page)
    {
        if (Checksum.VerifyPage(page, pageNo))
        {
            var stored = PageHeader.Read(page).PageNumber;
            if (stored != pageNo)
            {
                throw new PageCorruptException(Path, pageNo, $"the page holds page number {stored} (a write that landed in the wrong place)");
            }
            return;
        }
        if (Checksum.IsAllZero(page))
        {
            return;
        }
        throw new PageCorruptException(Path, pageNo, "checksum mismatch");
    }

    /// <summary>Faults injected into this file's reads and writes (set by the instance that opened it).</summary>
    public IoFaults? Faults { get; set; }

    /// <summary>Reads without verifying: recovery and diagnostics decide themselves what a bad page means.</summary>
    public int ReadRaw(uint pageNo, Span<byte> into)
    {
        Faults?.Before(IoOperation.DatabaseRead, Path);
        int total = Store.Read((long)pageNo * PageSize, into);
        into[total..].Clear();
        return total;
    }

    /// <summary>Writes a page, stamping its checksum into <paramref name="page"/> first.</summary>
    public void WritePage(uint pageNo, Span<byte> page)
    {
        Faults?.Before(IoOperation.DatabaseWrite, Path);
        PageHeader.Of(page).PageNumber = pageNo;
        Checksum.StampPage(page, pageNo);
        long offset = (long)pageNo * PageSize;
        EnsureLength(offset + PageSize);
        lock (RangeLock)
        {
            Store.Write(offset, page);
        }
    }

    /// <summary>Writes consecutive pages from <paramref name="firstPage"/> in one call (replay's flush of a run of
    /// pages), stamping each page's number and checksum first.</summary>
    public void WritePages(uint firstPage, Span<byte> pages)
    {
        Faults?.Before(IoOperation.DatabaseWrite, Path);
        int count = pages.Length / PageSize;
        for (int i = 0; i < count; i++)
        {
            var page = pages.Slice(i * PageSize, PageSize);
            PageHeader.Of(page).PageNumber = firstPage + (uint)i;
            Checksum.StampPage(page, firstPage + (uint)i);
        }
        long offset = (long)firstPage * PageSize;
        EnsureLength(offset + pages.Length);
        lock (RangeLock)
        {
            Store.Write(offset, pages);
        }
    }

    /// <summary>The file grows in extents (an eighth of its size, 1 to 64 MiB) rather than page by page.</summary>
    private void EnsureLength(long needed)
    {
        if (needed <= Volatile.Read(ref _physicalLength))
        {
            return;
        }
        lock (_growLock)
        {
            if (needed <= _physicalLength)
            {
                return;
            }
            long extent = Math.Clamp(_physicalLength / 8, MinExtent, MaxExtent);
            long target = Math.Max(needed, _physicalLength + extent);
            target = (target + PageSize - 1) / PageSize * PageSize;
            Store.SetLength(target);
            Volatile.Write(ref _physicalLength, target);
        }
    }

    public void Sync() => Store.Sync();

    /// <summary>Writes raw bytes at a page boundary (hard recovery clearing an image's trailer page).</summary>
    public void WriteRaw(uint pageNo, ReadOnlySpan<byte> page)
    {
        lock (RangeLock)
        {
            Store.Write((long)pageNo * PageSize, page);
        }
    }

    public DatabaseHeader ReadHeader() => ReadHeader(Store, Path);

    /// <summary>Reads pages 0 and 1 and returns the valid copy with the higher revision.</summary>
    private static DatabaseHeader ReadHeader(IPageStore store, string path)
    {
        var first = new byte[FormatConstants.MinPageSize];
        int n = store.Read(0, first);
        if (n < DatabaseHeader.SizeOf)
        {
            throw new StorageException($"'{path}' is too short to be a Blueback database.");
        }
        // The page size is in the header; if page 0 is damaged, the shadow on page 1 may still tell it.
        var candidates = new List<int>();
        var claimed = MemoryMarshal.Read<DatabaseHeader>(first);
        if (claimed.Magic == DatabaseHeader.MagicValue && FormatConstants.IsValidPageSize((int)claimed.PageSize))
        {
            candidates.Add((int)claimed.PageSize);
        }
        foreach (var ps in new[] { FormatConstants.DefaultPageSize, 4096, 16384, 32768 })
        {
            if (!candidates.Contains(ps))
            {
                candidates.Add(ps);
            }
        }
        DatabaseHeader? best = null;
        foreach (var ps in candidates)
        {
            foreach (uint copy in HeaderCopies)
            {
                if (TryReadHeaderPage(store, ps, copy, out var h))
                {
                    best = Better(best, h);
                }
            }
            if (best is not null)
            {
                break;
            }
        }
        if (best is null)
        {
            throw new PageCorruptException(path, FormatConstants.HeaderPage, "neither header page (0 nor its shadow 1) is valid: this is not a Blueback database, or both header copies are damaged");
        }
        if (best.Value.FormatVersion is < DatabaseHeader.OldestReadableVersion or > DatabaseHeader.CurrentVersion)
        {
            throw new DatabaseStateException($"Database '{path}' has format version {best.Value.FormatVersion}; this build reads versions {DatabaseHeader.OldestReadableVersion} to {DatabaseHeader.CurrentVersion}. Use the version of Blueback that wrote it.");
        }
        return best.Value;
    }

    private static DatabaseHeader Better(DatabaseHeader? a, DatabaseHeader b) => a is null || b.Revision > a.Value.Revision ? b : a.Value;

    private static bool TryReadHeaderPage(IPageStore store, int pageSize, uint pageNo, out DatabaseHeader header)
    {
        header = default;
        var page = new byte[pageSize];
        int n = store.Read((long)pageNo * pageSize, page);
        if (n != pageSize || !Checksum.VerifyPage(page, pageNo))
        {
            return false;
        }
        header = MemoryMarshal.Read<DatabaseHeader>(page);
        return header.Magic == DatabaseHeader.MagicValue && header.PageSize == (uint)pageSize && header.Page.PageNumber == pageNo;
    }

    /// <summary>The header's two pages, written in this order.</summary>
    private static readonly uint[] HeaderCopies = [FormatConstants.HeaderPage, FormatConstants.ShadowHeaderPage];

    /// <summary>Writes the header to page 0, flushes, then to page 1, flushes: a crash leaves one good copy.</summary>
    public void WriteHeader(ref DatabaseHeader header)
    {
        header.Magic = DatabaseHeader.MagicValue;
        header.FormatVersion = DatabaseHeader.CurrentVersion;
        header.PageSize = (uint)PageSize;
        header.Revision++;
        header.Page.Type = PageType.DatabaseHeader;
        var page = new byte[PageSize];
        foreach (uint copy in HeaderCopies)
        {
            header.Page.PageNumber = copy;
            MemoryMarshal.Write(page, in header);
            WritePage(copy, page);
            Sync();
        }
    }

    public void Dispose() => Store.Dispose();
}
