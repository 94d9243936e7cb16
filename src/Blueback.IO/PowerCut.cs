using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Blueback.IO;

/// <summary>A simulated power cut, for tests: what the disk under one directory tree holds for certain is what each
/// file held when it was last flushed (fsync or fdatasync through <see cref="FileSystem"/>) and what each directory
/// listed when it was last flushed; <see cref="Cut"/> writes, into another directory, the state a power loss now could
/// leave: every write not made durable dropped (or, with <c>keepUnsynced</c> above 0, each 4 KiB page of it kept or
/// dropped at random: a torn write), every create, rename and delete not made durable by its directory's flush undone.
/// <para>No write is intercepted: a flush is observed (the file's bytes copied just before the flush, taken as durable
/// once it returned), and a cut compares each file's durable bytes with its bytes now. A cut holds the layer's lock,
/// which each flush takes to record itself, so no flush completes while a cut is taken, and no write that depends on a
/// flush the cut does not count can be in what it sees. Files are known by inode (a descriptor of each is held, so an
/// inode number is never reused meanwhile): a rename or delete not yet flushed leaves the old name with its durable
/// bytes. Not modelled: a page written twice since its last flush may only come back as its latest bytes or its
/// durable ones (a disk could hold the middle version), and a directory's own rename keeps its listing's path.</para>
/// <para>Only flushes of paths under <see cref="Root"/> are observed (several layers may run at once over separate
/// trees); nothing is observed while no layer exists.</para></summary>
public sealed partial class PowerCut : IDisposable
{
    private const int PageSize = 4096;
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Tracked> _inodes = new();
    private readonly Dictionary<string, Listing> _dirs = new(StringComparer.Ordinal);
    private long _snapshots;
    private bool _disposed;

    /// <summary>Starts observing <paramref name="root"/>: everything under it now is taken as durable (as after a
    /// sync(1), or a machine just started).</summary>
    public PowerCut(string root)
    {
        Root = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar);
        Baseline(Root);
        Register(this);
    }

    public string Root { get; }

    /// <summary>File flushes observed.</summary>
    public long FileSyncs { get; private set; }

    /// <summary>Directory flushes observed.</summary>
    public long DirectorySyncs { get; private set; }

    /// <summary>Flushes that returned after an overlapping flush of the same file or directory whose snapshot was
    /// taken later (theirs then stands; see <see cref="Snapshot"/>).</summary>
    public long OutOfOrderSyncs { get; private set; }

    private sealed class Tracked(SafeFileHandle fd)
    {
        public SafeFileHandle Fd { get; } = fd;
        public byte[] Durable { get; set; } = [];

        /// <summary>When <see cref="Durable"/> was read (see <see cref="Snapshot"/>).</summary>
        public long Taken { get; set; }
    }

    private readonly record struct Entry(bool IsDirectory, ulong Inode);

    /// <summary>A directory's entries as of its snapshot <see cref="Taken"/>.</summary>
    private sealed record Listing(Dictionary<string, Entry> Entries, long Taken);

    /// <summary>Numbers the snapshots a flush takes before it runs: of two flushes of one file or directory that
    /// overlap, the one whose snapshot was taken later holds everything the earlier one promised (whatever was
    /// written before the earlier snapshot began), so a flush that returns after a later-snapshotted one must not
    /// put its older bytes back. It did: the engine's 300-cut run sees about 30 such overlaps (checkpoints, backups
    /// and the log writer flush the same files and directories from their own threads), and a cut just after one
    /// undid writes the engine had seen flushed (the likely cause of the one acknowledged commit a run lost).</summary>
    private long Snapshot() => Interlocked.Increment(ref _snapshots);

    /// <summary>What a cut left: files written, pages of unflushed writes dropped and kept, and files whose bytes
    /// mix flushed and unflushed pages (torn).</summary>
    public sealed record CutReport(int Files, long PagesDropped, long PagesKept, int TornFiles);

    /// <summary>Writes into <paramref name="target"/> (which must not exist) the tree a power loss at this moment could
    /// leave. <paramref name="keepUnsynced"/>: the chance that each 4 KiB page written since its file's last flush
    /// survives (0: every unflushed write is lost; 0.5: torn writes).</summary>
    public CutReport Cut(string target, Random random, double keepUnsynced = 0)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (Directory.Exists(target) || File.Exists(target))
        {
            throw new IOException($"The power cut's target '{target}' already exists: give a new directory.");
        }
        lock (_lock)
        {
            var counts = new long[4];
            Materialize(Root, target, random, keepUnsynced, counts);
            return new CutReport((int)counts[0], counts[1], counts[2], (int)counts[3]);
        }
    }

    private void Materialize(string dir, string target, Random random, double keep, long[] counts)
    {
        Directory.CreateDirectory(target);
        if (!_dirs.TryGetValue(dir, out var listing))
        {
            return; // a directory whose own entries were never flushed: it survives empty
        }
        foreach (var (name, entry) in listing.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            var to = Path.Combine(target, name);
            if (entry.IsDirectory)
            {
                Materialize(Path.Combine(dir, name), to, random, keep, counts);
                continue;
            }
            var bytes = _inodes.TryGetValue(entry.Inode, out var t) ? Compose(t, random, keep, counts) : [];
            File.WriteAllBytes(to, bytes);
            counts[0]++;
        }
    }

    private static byte[] Compose(Tracked t, Random random, double keep, long[] counts)
    {
        var durable = t.Durable;
        byte[] now;
        try
        {
            now = ReadAll(t.Fd);
        }
        catch (IOException)
        {
            return durable;
        }
        int length = now.Length == durable.Length || random.NextDouble() >= keep ? durable.Length : now.Length;
        var result = new byte[length];
        bool anyKept = false, anyDropped = false;
        for (int at = 0; at < length; at += PageSize)
        {
            int n = Math.Min(PageSize, length - at);
            var oldPage = Slice(durable, at, n);
            var newPage = Slice(now, at, n);
            bool differs = !oldPage.AsSpan().SequenceEqual(newPage);
            bool takeNew = differs && random.NextDouble() < keep;
            (takeNew ? newPage : oldPage).CopyTo(result, at);
            if (differs)
            {
                counts[takeNew ? 2 : 1]++;
                anyKept |= takeNew;
                anyDropped |= !takeNew;
            }
        }
        if (anyKept && anyDropped)
        {
            counts[3]++;
        }
        return result;
    }

    private static byte[] Slice(byte[] source, int at, int n)
    {
        var page = new byte[n];
        if (at < source.Length)
        {
            source.AsSpan(at, Math.Min(n, source.Length - at)).CopyTo(page);
        }
        return page;
    }

    /// <summary>Before a file's flush: its bytes now (the flush makes at least these durable). Null: not observed.</summary>
    internal Action? BeforeFileSync(SafeFileHandle handle)
    {
        if (_disposed)
        {
            return null;
        }
        var fd = Reopen(handle);
        if (fd is null)
        {
            return null;
        }
        ulong ino = Inode(fd);
        long taken = Snapshot();
        byte[] bytes = ReadAll(fd);
        return () =>
        {
            lock (_lock)
            {
                FileSyncs++;
                if (_inodes.TryGetValue(ino, out var t))
                {
                    fd.Dispose();
                }
                else
                {
                    _inodes[ino] = t = new Tracked(fd);
                }
                if (taken > t.Taken)
                {
                    t.Durable = bytes;
                    t.Taken = taken;
                }
                else
                {
                    OutOfOrderSyncs++;
                }
            }
        };
    }

    /// <summary>Before a directory's flush: its entries now.</summary>
    internal Action? BeforeDirectorySync(string directory)
    {
        if (_disposed)
        {
            return null;
        }
        var dir = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        long taken = Snapshot(); // before the listing: see Snapshot
        var listing = new Listing(List(dir, out var opened), taken);
        return () =>
        {
            lock (_lock)
            {
                DirectorySyncs++;
                if (!_dirs.TryGetValue(dir, out var recorded) || listing.Taken > recorded.Taken)
                {
                    _dirs[dir] = listing;
                }
                else
                {
                    OutOfOrderSyncs++;
                }
                foreach (var (ino, fd) in opened)
                {
                    if (!_inodes.TryAdd(ino, new Tracked(fd) { Durable = [] }))
                    {
                        fd.Dispose();
                    }
                }
            }
        };
    }

    /// <summary>Lists a directory: each file by inode, with a descriptor for each file not tracked yet.</summary>
    private Dictionary<string, Entry> List(string dir, out List<(ulong, SafeFileHandle)> opened)
    {
        opened = [];
        var listing = new Dictionary<string, Entry>(StringComparer.Ordinal);
        if (!Directory.Exists(dir))
        {
            return listing;
        }
        foreach (var info in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            if (info is DirectoryInfo)
            {
                listing[info.Name] = new Entry(true, 0);
                continue;
            }
            var fd = OpenRead(info.FullName);
            if (fd is null)
            {
                continue; // gone between the listing and the open: a delete in flight, either way is a state a disk may hold
            }
            ulong ino = Inode(fd);
            listing[info.Name] = new Entry(false, ino);
            bool known;
            lock (_lock)
            {
                known = _inodes.ContainsKey(ino);
            }
            if (known)
            {
                fd.Dispose();
            }
            else
            {
                opened.Add((ino, fd));
            }
        }
        return listing;
    }

    private void Baseline(string dir)
    {
        var listing = List(dir, out var opened);
        foreach (var (ino, fd) in opened)
        {
            _inodes[ino] = new Tracked(fd) { Durable = ReadAll(fd) };
        }
        _dirs[dir] = new Listing(listing, 0);
        foreach (var (name, e) in listing)
        {
            if (e.IsDirectory)
            {
                Baseline(Path.Combine(dir, name));
            }
        }
    }

    public void Dispose()
    {
        Unregister(this);
        lock (_lock)
        {
            _disposed = true;
            foreach (var t in _inodes.Values)
            {
                t.Fd.Dispose();
            }
            _inodes.Clear();
            _dirs.Clear();
        }
    }

    // ---- the layers observing now, found by path ----

    private static readonly Lock Layers = new();
    private static volatile PowerCut[] _layers = [];

    private static void Register(PowerCut layer)
    {
        lock (Layers)
        {
            _layers = [.. _layers, layer];
        }
    }

    private static void Unregister(PowerCut layer)
    {
        lock (Layers)
        {
            _layers = _layers.Where(l => l != layer).ToArray();
        }
    }

    /// <summary>The layer observing <paramref name="path"/>, if any (the common case, none, costs one read).</summary>
    internal static PowerCut? Find(string path)
    {
        var layers = _layers;
        if (layers.Length == 0)
        {
            return null;
        }
        var full = Path.GetFullPath(path);
        foreach (var l in layers)
        {
            if (full.StartsWith(l.Root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || full == l.Root)
            {
                return l;
            }
        }
        return null;
    }

    // ---- descriptors of our own: no O_DIRECT, no .NET advisory lock (a FileShare.None open elsewhere must not fail) ----

    private static SafeFileHandle? Reopen(SafeFileHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            return OpenRead($"/proc/self/fd/{(int)handle.DangerousGetHandle()}");
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private static SafeFileHandle? OpenRead(string path)
    {
        int fd = Open(path, 0x80000 /* O_RDONLY | O_CLOEXEC */);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    private static unsafe ulong Inode(SafeFileHandle fd)
    {
        // struct stat on 64-bit Linux (x86-64 and arm64 alike): st_dev, then st_ino, 8 bytes each.
        ulong* buf = stackalloc ulong[32];
        if (Fstat((int)fd.DangerousGetHandle(), buf) != 0)
        {
            throw new IOException($"fstat failed in the power-cut layer (errno {Marshal.GetLastPInvokeError()}).");
        }
        return buf[1];
    }

    private static byte[] ReadAll(SafeFileHandle fd)
    {
        long length = RandomAccess.GetLength(fd);
        var bytes = new byte[length];
        int done = 0;
        while (done < bytes.Length)
        {
            int n = RandomAccess.Read(fd, bytes.AsSpan(done), done);
            if (n <= 0)
            {
                Array.Resize(ref bytes, done); // shortened meanwhile
                break;
            }
            done += n;
        }
        return bytes;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static unsafe partial int Fstat(int fd, ulong* buffer);
}
