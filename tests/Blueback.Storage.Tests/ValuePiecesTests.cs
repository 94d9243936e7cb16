using System.Buffers.Binary;
using Blueback.Storage.BTree;
using Blueback.Storage.Format;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>Long values in pieces packed into shared pages (format version 2): every length reads back exactly,
/// pages fill, every page is either reachable or free (no leaked page, no leaked piece), and version 1 overflow
/// chains still read and free.</summary>
public class ValuePiecesTests
{
    private static byte[] Bytes(int length, int seed)
    {
        var v = new byte[length];
        new Random(seed).NextBytes(v);
        return v;
    }

    /// <summary>Pages reachable from the catalog and from <paramref name="root"/>, value pages among them, free
    /// pages and the three fixed pages must add up to the page count; each pieces page's live slots must all be
    /// reached from some value.</summary>
    private static void Audit(MemoryPages m, uint root)
    {
        var seen = new HashSet<uint>();
        var liveSlots = new Dictionary<uint, int>();
        int piecesReached = 0;
        void Tree(uint p)
        {
            Assert.True(seen.Add(p), $"page {p} reached twice");
            var page = m.Read(p);
            if (NodePage.IsLeaf(page))
            {
                for (int i = 0; i < NodePage.Count(page); i++)
                {
                    var v = NodePage.Value(page, i);
                    if (v.Kind == ValueKind.Pieces)
                    {
                        var (q, s) = (v.Page, v.Slot);
                        for (int at = 0; at < v.Length;)
                        {
                            var data = m.Read(q);
                            Assert.Equal(PageType.Pieces, PageHeader.Read(data).Type);
                            if (seen.Add(q))
                            {
                                liveSlots[q] = Enumerable.Range(0, PageHeader.Read(data).CellCount).Count(k => BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(PageHeader.SizeOf + (2 * k))) != 0);
                            }
                            else
                            {
                                Assert.True(liveSlots.ContainsKey(q), $"pieces page {q} is also a tree page");
                            }
                            int off = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(PageHeader.SizeOf + (2 * s)));
                            at += BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(off));
                            (q, s) = (BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(off + 2)), BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(off + 6)));
                            piecesReached++;
                        }
                    }
                    else if (v.Kind == ValueKind.Chain)
                    {
                        for (uint q = v.Page; q != 0; q = PageHeader.Read(m.Read(q)).Next)
                        {
                            Assert.True(seen.Add(q), $"overflow page {q} reached twice");
                        }
                    }
                }
            }
            else
            {
                for (int i = -1; i < NodePage.Count(page); i++)
                {
                    Tree(NodePage.Child(page, i));
                }
            }
        }
        Tree(FormatConstants.CatalogRootPage);
        Tree(root);
        Assert.Equal(liveSlots.Values.Sum(), piecesReached);
        uint free = 0;
        for (uint p = SpaceRoot.FreeHead(m.Read(FormatConstants.SpaceRootPage)); p != 0; p = PageHeader.Read(m.Read(p)).Next)
        {
            Assert.DoesNotContain(p, seen);
            free++;
        }
        Assert.Equal(m.FreeCount, free);
        Assert.Equal(m.PageCount, (uint)seen.Count + free + 3);
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(8192)]
    [InlineData(32768)]
    public void Every_length_around_the_edges_reads_back_exactly_and_frees_every_page(int pageSize)
    {
        var m = new MemoryPages(pageSize);
        uint root = Catalog.Create(m, "t");
        int maxCell = NodePage.MaxCell(pageSize);
        int payload = pageSize - PageHeader.SizeOf;
        var lengths = new List<int> { 0, 1, maxCell - 20, maxCell - 9, maxCell - 8, maxCell, maxCell + 1, 4095, 4096, 4097 };
        foreach (int edge in new[] { payload - 8, payload - 10, payload, 2 * payload, 3 * (payload - 10) })
        {
            lengths.AddRange(Enumerable.Range(edge - 3, 7));
        }
        lengths.Add(300_000);
        var model = new Dictionary<string, byte[]>();
        for (int i = 0; i < lengths.Count; i++)
        {
            var v = Bytes(lengths[i], i);
            BPlusTree.Put(m, root, B($"k{i:D4}"), v);
            model[$"k{i:D4}"] = v;
        }
        Audit(m, root);
        foreach (var (k, v) in model)
        {
            Assert.Equal(v, BPlusTree.Get(m, root, B(k)));
        }
        // Replace every other value by one of another length, delete every third, and check again.
        for (int i = 0; i < lengths.Count; i += 2)
        {
            var v = Bytes(lengths[(i * 7) % lengths.Count], 1000 + i);
            BPlusTree.Put(m, root, B($"k{i:D4}"), v);
            model[$"k{i:D4}"] = v;
        }
        for (int i = 0; i < lengths.Count; i += 3)
        {
            Assert.True(BPlusTree.Delete(m, root, B($"k{i:D4}")));
            model.Remove($"k{i:D4}");
        }
        Audit(m, root);
        foreach (var (k, v) in model)
        {
            Assert.Equal(v, BPlusTree.Get(m, root, B(k)));
        }
        foreach (var k in model.Keys)
        {
            BPlusTree.Delete(m, root, B(k));
        }
        Audit(m, root);
        Assert.Equal(m.PageCount - 3 - 2, m.FreeCount); // only the catalog's and the table's roots remain
    }

    [Fact]
    public void Random_puts_replaces_and_deletes_match_a_model_and_leak_nothing()
    {
        var rng = new Random(11);
        var m = new MemoryPages(8192);
        uint root = Catalog.Create(m, "t");
        var model = new Dictionary<string, byte[]>();
        for (int op = 0; op < 4000; op++)
        {
            string k = $"k{rng.Next(400):D4}";
            if (rng.Next(4) == 0)
            {
                Assert.Equal(model.Remove(k), BPlusTree.Delete(m, root, B(k)));
            }
            else
            {
                int r = rng.Next(100);
                int len = r < 30 ? rng.Next(0, 3000) : r < 90 ? rng.Next(2700, 9000) : rng.Next(9000, 70_000);
                var v = Bytes(len, op);
                BPlusTree.Put(m, root, B(k), v);
                model[k] = v;
            }
            if (op % 500 == 499)
            {
                Audit(m, root);
                foreach (var (key, v) in model)
                {
                    Assert.Equal(v, BPlusTree.Get(m, root, B(key)));
                }
            }
        }
    }

    [Fact]
    public void Four_KiB_values_fill_their_pages()
    {
        var m = new MemoryPages(8192);
        uint root = Catalog.Create(m, "t");
        const int count = 2000;
        for (int i = 0; i < count; i++)
        {
            BPlusTree.Put(m, root, B($"k{i:D10}"), Bytes(4096, i));
        }
        Audit(m, root);
        // Whole pages per value took 2,000 pages for these values alone; the bytes need 1,004.
        double valuePages = Math.Ceiling(count * 4096.0 / (8192 - PageHeader.SizeOf));
        Assert.True(m.PageCount < valuePages * 1.03 + 60, $"{m.PageCount} pages for {valuePages} pages of values");
    }

    [Fact]
    public void Pages_emptied_by_deletes_are_filled_again_before_the_file_grows()
    {
        var m = new MemoryPages(8192);
        uint root = Catalog.Create(m, "t");
        for (int i = 0; i < 1000; i++)
        {
            BPlusTree.Put(m, root, B($"k{i:D5}"), Bytes(3000, i));
        }
        uint before = m.PageCount;
        string trace = "";
        for (int round = 0; round < 5; round++)
        {
            for (int i = round % 2; i < 1000; i += 2)
            {
                BPlusTree.Delete(m, root, B($"k{i:D5}"));
            }
            for (int i = round % 2; i < 1000; i += 2)
            {
                BPlusTree.Put(m, root, B($"k{i:D5}"), Bytes(3000, i + round));
            }
            Audit(m, root);
            trace += $" [{m.PageCount} pages, {m.FreeCount} free, {m.Pieces.Count} remembered]";
        }
        Assert.True(m.PageCount <= before * 1.1, $"{before} pages grew to {m.PageCount} after rewriting half the values five times:{trace}");
    }

    [Fact]
    public void A_stale_or_freed_hint_is_never_used()
    {
        var m = new MemoryPages(8192);
        uint root = Catalog.Create(m, "t");
        BPlusTree.Put(m, root, B("a"), Bytes(5000, 1));
        uint hint = m.Pieces.Current;
        BPlusTree.Delete(m, root, B("a")); // the hint's page is now free
        Assert.Equal(PageType.Free, PageHeader.Read(m.Read(hint)).Type);
        m.Pieces.Current = hint;
        var leaf = m.Allocate(PageType.Leaf); // and taken again, as another kind of page
        Assert.Equal(hint, leaf);
        BPlusTree.Put(m, root, B("b"), Bytes(5000, 2));
        Assert.Equal(PageType.Leaf, PageHeader.Read(m.Read(leaf)).Type);
        Assert.Equal(0, NodePage.Count(m.Read(leaf)));
        m.Pieces.Current = 1_000_000; // beyond the end
        BPlusTree.Put(m, root, B("c"), Bytes(5000, 3));
        Assert.Equal(Bytes(5000, 2), BPlusTree.Get(m, root, B("b")));
        Assert.Equal(Bytes(5000, 3), BPlusTree.Get(m, root, B("c")));
    }

    [Theory]
    [InlineData(0)] // the piece's length
    [InlineData(2)] // the next piece's page
    public void A_damaged_piece_is_reported_naming_the_value_s_first_piece(int field)
    {
        var m = new MemoryPages(8192);
        uint root = Catalog.Create(m, "t");
        BPlusTree.Put(m, root, B("v"), Bytes(20_000, 1));
        var v = NodePage.Value(m.Read(root), 0);
        var data = m.Write(v.Page);
        int off = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(PageHeader.SizeOf + (2 * v.Slot)));
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(off + field), field == 0 ? (ushort)65000 : (ushort)3);
        var ex = Assert.Throws<StorageException>(() => BPlusTree.Get(m, root, B("v")));
        Assert.Contains($"page {v.Page}, slot {v.Slot}", ex.Message, StringComparison.Ordinal);
        Assert.Throws<StorageException>(() => BPlusTree.Delete(m, root, B("v")));
    }

    [Fact]
    public void Version_1_overflow_chains_still_read_replace_and_free()
    {
        var m = new MemoryPages(8192);
        uint root = Catalog.Create(m, "t");
        var old = Bytes(20_000, 5);
        uint first = Overflow.Write(m, old);
        // A version 1 leaf cell: key length, flags (1 = overflow chain), value length, key, first page.
        var key = B("old");
        var cell = new byte[NodePage.LeafCellHeader + key.Length + 4];
        BinaryPrimitives.WriteUInt16LittleEndian(cell, (ushort)key.Length);
        cell[2] = NodePage.OverflowFlag;
        BinaryPrimitives.WriteUInt32LittleEndian(cell.AsSpan(3), (uint)old.Length);
        key.CopyTo(cell.AsSpan(NodePage.LeafCellHeader));
        BinaryPrimitives.WriteUInt32LittleEndian(cell.AsSpan(NodePage.LeafCellHeader + key.Length), first);
        Assert.True(NodePage.TryInsert(m.Write(root), 0, cell));
        BPlusTree.Put(m, root, B("new"), Bytes(20_000, 6));
        Audit(m, root);
        Assert.Equal(old, BPlusTree.Get(m, root, key));
        BPlusTree.Put(m, root, key, Bytes(9000, 7)); // replaced: the chain's pages are freed
        Audit(m, root);
        Assert.Equal(Bytes(9000, 7), BPlusTree.Get(m, root, key));
        Assert.Equal(ValueKind.Pieces, NodePage.Value(m.Read(root), 1).Kind);
    }

    [Fact]
    public void Single_value_transactions_share_pages_and_survive_rollback_and_reopen()
    {
        using var dir = new TempDir();
        var values = new Dictionary<string, byte[]>();
        long fileBytes;
        using (var inst = StorageInstance.Create(dir.Path, Options))
        {
            var db = inst.CreateDatabase("d");
            for (int i = 0; i < 300; i++)
            {
                using (var tx = inst.BeginWrite())
                {
                    tx.Put(db, "t", B($"k{i:D4}"), Bytes(3000, i));
                    values[$"k{i:D4}"] = Bytes(3000, i);
                    tx.Commit();
                }
                if (i % 50 == 0)
                {
                    using var rolledBack = inst.BeginWrite();
                    rolledBack.Put(db, "t", B("gone"), Bytes(7000, -i)); // moves the view's hint, never committed
                }
            }
            inst.Checkpoint();
            fileBytes = new FileInfo(db.Path).Length;
        }
        // 300 values of 3,000 bytes are 111 pages of bytes; whole pages per value took 300.
        Assert.True(fileBytes / 8192 < 140, $"{fileBytes / 8192} pages");
        using (var inst = StorageInstance.Open(dir.Path, Options))
        {
            var db = inst.Databases.Single(d => d.Name == "d");
            using var r = inst.BeginRead();
            Assert.Null(r.Get(db, "t", B("gone")));
            foreach (var (k, v) in values)
            {
                Assert.Equal(v, r.Get(db, "t", B(k)));
            }
            Assert.Equal(DatabaseHeader.CurrentVersion, db.Header.FormatVersion);
        }
    }
}
