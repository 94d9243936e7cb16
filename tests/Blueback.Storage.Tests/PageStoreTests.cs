using Blueback.Storage.Paging;
using Microsoft.Win32.SafeHandles;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>The page-store seam under the database file: an instance whose options name page stores reads and writes
/// its databases through them instead of files, and a mounted set's options refuse every write by name.</summary>
public class PageStoreTests
{
    /// <summary>A database held in memory: what the seam lets stand in for a file.</summary>
    private sealed class MemoryStore(byte[] initial) : IPageStore
    {
        private byte[] _bytes = initial;
        public int Reads;
        public int Writes;

        public int Read(long offset, Span<byte> into)
        {
            Reads++;
            int n = (int)Math.Clamp(_bytes.Length - offset, 0, into.Length);
            _bytes.AsSpan((int)offset, n).CopyTo(into);
            return n;
        }

        public void Write(long offset, ReadOnlySpan<byte> data)
        {
            Writes++;
            if (offset + data.Length > _bytes.Length)
            {
                Array.Resize(ref _bytes, (int)(offset + data.Length));
            }
            data.CopyTo(_bytes.AsSpan((int)offset));
        }

        public long Length => _bytes.Length;
        public void SetLength(long length) => Array.Resize(ref _bytes, (int)length);
        public void Sync() { }
        public SafeFileHandle? Handle => null;
        public void Dispose() { }
    }

    private sealed class MemoryStores(string path, MemoryStore store) : IPageStores
    {
        public bool TryOpen(string p, bool writable, out IPageStore? opened)
        {
            opened = Path.GetFullPath(p) == Path.GetFullPath(path) ? store : null;
            return opened is not null;
        }
    }

    [Fact]
    public void An_instance_reads_and_writes_a_database_through_its_page_store_when_the_file_is_gone()
    {
        using var dir = new TempDir();
        string path;
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            var db = inst.CreateDatabase("mailbox");
            path = db.Path;
            using var tx = inst.BeginWrite();
            for (int i = 0; i < 500; i++)
            {
                tx.Put(db, "t", B($"k{i:D4}"), B($"v{i}"));
            }
            tx.Commit();
        }
        var store = new MemoryStore(File.ReadAllBytes(path));
        File.Delete(path); // from here the database exists only in the store
        using (var inst = StorageInstance.Open(dir.Path, Options with { PageStores = new MemoryStores(path, store) }))
        {
            var db = inst.GetDatabase("mailbox");
            Assert.Equal(store.Length, db.SizeBytes);
            using (var r = inst.BeginRead())
            {
                Assert.Equal("v123", S(r.Get(db, "t", B("k0123"))!));
            }
            using (var tx = inst.BeginWrite())
            {
                tx.Put(db, "t", B("new"), B("x"));
                tx.Commit();
            }
            inst.Checkpoint();
        }
        Assert.False(File.Exists(path));
        Assert.True(store.Reads > 0 && store.Writes > 0, $"{store.Reads} reads, {store.Writes} writes through the store");
        using var again = StorageInstance.Open(dir.Path, Options with { PageStores = new MemoryStores(path, store) });
        using var read = again.BeginRead();
        Assert.Equal("x", S(read.Get(again.GetDatabase("mailbox"), "t", B("new"))!));
    }

    [Fact]
    public void A_mounted_set_refuses_writes_naming_the_set()
    {
        using var dir = new TempDir();
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            inst.CreateDatabase("mailbox");
        }
        using var mounted = StorageInstance.Open(dir.Path, Options with { MountedSet = "full abc123" });
        var ex = Assert.Throws<MountedSetException>(() => mounted.BeginWrite());
        Assert.Contains("full abc123", ex.Message, StringComparison.Ordinal);
        Assert.Contains("read-only", ex.Message, StringComparison.Ordinal);
        Assert.Throws<MountedSetException>(() => mounted.CreateDatabase("other"));
        using var r = mounted.BeginRead(); // reads go on
    }
}
