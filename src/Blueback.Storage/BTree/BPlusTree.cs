using Blueback.Storage.Format;

namespace Blueback.Storage.BTree;

/// <summary>B+tree operations on one tree, identified by its root page. The root never moves: when it splits,
/// its cells move to two new pages and it becomes their parent; when it has one child left, it takes that
/// child's cells. So a table's root page number, kept in the catalog, is fixed for the table's life.</summary>
internal static class BPlusTree
{
    public static byte[]? Get(IPageReader r, uint root, ReadOnlySpan<byte> key)
    {
        var page = FindLeaf(r, root, key, path: null);
        if (!NodePage.Search(page, key, out int i))
        {
            return null;
        }
        return ValueAt(r, page, i);
    }

    public static byte[] ValueAt(IPageReader r, byte[] leaf, int i)
    {
        var v = NodePage.Value(leaf, i);
        return v.Kind switch
        {
            ValueKind.Pieces => ValuePieces.Read(r, v.Page, v.Slot, v.Length),
            ValueKind.Chain => Overflow.Read(r, v.Page, v.Length),
            _ => leaf.AsSpan(v.InlineOffset, v.Length).ToArray(),
        };
    }

    /// <summary>Frees the pages or pieces that hold a value kept outside its leaf.</summary>
    private static void FreeOutside(IPageWriter w, LeafValue v)
    {
        if (v.Kind == ValueKind.Pieces)
        {
            ValuePieces.Free(w, v.Page, v.Slot, v.Length);
        }
        else if (v.Kind == ValueKind.Chain)
        {
            Overflow.Free(w, v.Page);
        }
    }

    private static byte[] FindLeaf(IPageReader r, uint root, ReadOnlySpan<byte> key, List<(uint Page, int Child)>? path)
    {
        uint p = root;
        for (int depth = 0; ; depth++)
        {
            var page = r.Read(p);
            var type = PageHeader.Read(page).Type;
            if (type == PageType.Leaf)
            {
                return page;
            }
            if (type != PageType.Branch || depth > 64)
            {
                throw new StorageException($"Page {p} (reached from tree root {root}) is a {type} page where a tree page was expected. The database is damaged; run 'blueback db checksum' and restore from a backup.");
            }
            int ci = NodePage.ChildIndexFor(page, key);
            path?.Add((p, ci));
            p = NodePage.Child(page, ci);
        }
    }

    /// <summary>Inserts or replaces. Returns true when the key was new.</summary>
    public static bool Put(IPageWriter w, uint root, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var path = new List<(uint Page, int Child)>();
        var leafRo = FindLeaf(w, root, key, path);
        uint leafNo = path.Count == 0 ? root : NodePage.Child(w.Read(path[^1].Page), path[^1].Child);
        var leaf = w.Write(leafNo);
        bool existed = NodePage.Search(leaf, key, out int index);
        if (existed)
        {
            FreeOutside(w, NodePage.Value(leaf, index));
            NodePage.Remove(leaf, index);
        }
        _ = leafRo;
        byte[] cell;
        int inlineSize = NodePage.LeafCellHeader + key.Length + value.Length;
        if (inlineSize <= NodePage.MaxCell(w.PageSize))
        {
            cell = NodePage.LeafCell(key, value);
        }
        else
        {
            var (page, slot) = ValuePieces.Write(w, value);
            cell = NodePage.PiecesCell(key, value.Length, page, slot);
        }
        InsertIntoLeaf(w, root, path, leafNo, index, cell);
        return !existed;
    }

    private static void InsertIntoLeaf(IPageWriter w, uint root, List<(uint Page, int Child)> path, uint leafNo, int index, byte[] cell)
    {
        var leaf = w.Write(leafNo);
        if (NodePage.TryInsert(leaf, index, cell))
        {
            return;
        }
        var cells = NodePage.Cells(leaf);
        cells.Insert(index, cell);
        // Appending at the far right (a bulk load in key order) leaves the full page full and starts a new one.
        int split = index == cells.Count - 1 && PageHeader.Read(leaf).Next == 0 && leafNo != root
            ? cells.Count - 1
            : SplitPoint(cells);
        if (leafNo == root)
        {
            SplitRoot(w, root, cells, split, leaf: true);
            return;
        }
        uint rightNo = w.Allocate(PageType.Leaf);
        var right = w.Write(rightNo);
        leaf = w.Write(leafNo);
        uint oldNext = PageHeader.Read(leaf).Next;
        NodePage.Rebuild(leaf, cells, 0, split);
        NodePage.Rebuild(right, cells, split, cells.Count - split);
        PageHeader.Of(right).Next = oldNext;
        PageHeader.Of(right).Prev = leafNo;
        PageHeader.Of(leaf).Next = rightNo;
        if (oldNext != 0)
        {
            PageHeader.Of(w.Write(oldNext)).Prev = rightNo;
        }
        var sep = NodePage.CellKey(cells[split], leaf: true).ToArray();
        InsertIntoBranch(w, root, path, path.Count - 1, sep, rightNo);
    }

    /// <summary>Adds (separator, child) right after the child we came down through at path[level].</summary>
    private static void InsertIntoBranch(IPageWriter w, uint root, List<(uint Page, int Child)> path, int level, byte[] sep, uint child)
    {
        var (pageNo, ci) = path[level];
        var page = w.Write(pageNo);
        var cell = NodePage.BranchCell(sep, child);
        int index = ci + 1;
        if (NodePage.TryInsert(page, index, cell))
        {
            return;
        }
        var cells = NodePage.Cells(page);
        cells.Insert(index, cell);
        int m = Math.Clamp(SplitPoint(cells), 1, cells.Count - 2);
        if (pageNo == root)
        {
            SplitRoot(w, root, cells, m, leaf: false);
            return;
        }
        uint rightNo = w.Allocate(PageType.Branch);
        var right = w.Write(rightNo);
        page = w.Write(pageNo);
        var up = NodePage.CellKey(cells[m], leaf: false).ToArray();
        NodePage.Rebuild(page, cells, 0, m);
        NodePage.Rebuild(right, cells, m + 1, cells.Count - m - 1);
        PageHeader.Of(right).Next = NodePage.BranchCellChild(cells[m]);
        InsertIntoBranch(w, root, path, level - 1, up, rightNo);
    }

    private static void SplitRoot(IPageWriter w, uint root, List<byte[]> cells, int split, bool leaf)
    {
        var type = leaf ? PageType.Leaf : PageType.Branch;
        uint leftNo = w.Allocate(type);
        uint rightNo = w.Allocate(type);
        var rootPage = w.Write(root);
        var left = w.Write(leftNo);
        var right = w.Write(rightNo);
        byte[] up;
        if (leaf)
        {
            NodePage.Rebuild(left, cells, 0, split);
            NodePage.Rebuild(right, cells, split, cells.Count - split);
            PageHeader.Of(left).Next = rightNo;
            PageHeader.Of(right).Prev = leftNo;
            up = NodePage.CellKey(cells[split], leaf: true).ToArray();
        }
        else
        {
            PageHeader.Of(left).Next = PageHeader.Read(rootPage).Next;
            NodePage.Rebuild(left, cells, 0, split);
            NodePage.Rebuild(right, cells, split + 1, cells.Count - split - 1);
            PageHeader.Of(right).Next = NodePage.BranchCellChild(cells[split]);
            up = NodePage.CellKey(cells[split], leaf: false).ToArray();
        }
        NodePage.Init(rootPage, PageType.Branch);
        PageHeader.Of(rootPage).Next = leftNo;
        NodePage.TryInsert(rootPage, 0, NodePage.BranchCell(up, rightNo));
    }

    /// <summary>The index of the first cell of the right half, balancing bytes; both halves non-empty.</summary>
    private static int SplitPoint(List<byte[]> cells)
    {
        long total = 0;
        foreach (var c in cells)
        {
            total += c.Length + 2;
        }
        long acc = 0;
        for (int i = 0; i < cells.Count; i++)
        {
            acc += cells[i].Length + 2;
            if (acc * 2 >= total)
            {
                return Math.Clamp(i + 1, 1, cells.Count - 1);
            }
        }
        return cells.Count - 1;
    }

    /// <summary>Removes a key. Returns whether it was there.</summary>
    public static bool Delete(IPageWriter w, uint root, ReadOnlySpan<byte> key)
    {
        var path = new List<(uint Page, int Child)>();
        var leafRo = FindLeaf(w, root, key, path);
        if (!NodePage.Search(leafRo, key, out int index))
        {
            return false;
        }
        uint leafNo = path.Count == 0 ? root : NodePage.Child(w.Read(path[^1].Page), path[^1].Child);
        var leaf = w.Write(leafNo);
        FreeOutside(w, NodePage.Value(leaf, index));
        NodePage.Remove(leaf, index);
        Rebalance(w, root, path, path.Count - 1, leafNo);
        return true;
    }

    /// <summary>After a removal from <paramref name="pageNo"/> (child of path[level]): merge it with a sibling
    /// when it is under a quarter full and the two fit in one page; collapse a root with a single child.</summary>
    private static void Rebalance(IPageWriter w, uint root, List<(uint Page, int Child)> path, int level, uint pageNo)
    {
        var page = w.Read(pageNo);
        if (pageNo == root)
        {
            if (!NodePage.IsLeaf(page) && NodePage.Count(page) == 0)
            {
                uint only = NodePage.Child(page, -1);
                var child = w.Read(only);
                var rootPage = w.Write(root);
                child.AsSpan(PageHeader.SizeOf).CopyTo(rootPage.AsSpan(PageHeader.SizeOf));
                var ch = PageHeader.Read(child);
                ref var rh = ref PageHeader.Of(rootPage);
                rh.Type = ch.Type;
                rh.CellCount = ch.CellCount;
                rh.FreeStart = ch.FreeStart;
                rh.FreeEnd = ch.FreeEnd;
                rh.Next = ch.Type == PageType.Leaf ? 0 : ch.Next;
                rh.Prev = 0;
                w.Free(only);
            }
            return;
        }
        if (NodePage.Used(page) >= w.PageSize / 4)
        {
            return;
        }
        var (parentNo, ci) = path[level];
        var parent = w.Read(parentNo);
        int count = NodePage.Count(parent);
        int leftIdx, rightIdx;
        if (ci + 1 < count)
        {
            leftIdx = ci;
            rightIdx = ci + 1;
        }
        else if (ci >= 0)
        {
            leftIdx = ci - 1;
            rightIdx = ci;
        }
        else
        {
            return; // only child: nothing to merge with
        }
        uint leftNo = NodePage.Child(parent, leftIdx);
        uint rightNo = NodePage.Child(parent, rightIdx);
        var leftRo = w.Read(leftNo);
        var rightRo = w.Read(rightNo);
        bool leaf = NodePage.IsLeaf(leftRo);
        var cells = NodePage.Cells(leftRo);
        if (!leaf)
        {
            cells.Add(NodePage.BranchCell(NodePage.Key(parent, rightIdx), NodePage.Child(rightRo, -1)));
        }
        cells.AddRange(NodePage.Cells(rightRo));
        if (NodePage.CellsSize(cells, 0, cells.Count) > w.PageSize)
        {
            return;
        }
        var left = w.Write(leftNo);
        NodePage.Rebuild(left, cells);
        if (leaf)
        {
            uint next = PageHeader.Read(rightRo).Next;
            PageHeader.Of(left).Next = next;
            if (next != 0)
            {
                PageHeader.Of(w.Write(next)).Prev = leftNo;
            }
        }
        w.Free(rightNo);
        NodePage.Remove(w.Write(parentNo), rightIdx);
        Rebalance(w, root, path, level - 1, parentNo);
    }

    /// <summary>Leaf-level iteration from a key (inclusive) forward, or from below a key (exclusive) backward.</summary>
    public static IEnumerable<KeyValuePair<byte[], byte[]>> Scan(IPageReader r, uint root, byte[]? from, byte[]? to, bool reverse)
    {
        return reverse ? Backward(r, root, from, to) : Forward(r, root, from, to);
    }

    private static IEnumerable<KeyValuePair<byte[], byte[]>> Forward(IPageReader r, uint root, byte[]? from, byte[]? to)
    {
        var leaf = from is null ? Edge(r, root, first: true) : FindLeaf(r, root, from, null);
        int i = 0;
        if (from is not null)
        {
            NodePage.Search(leaf, from, out i);
        }
        while (true)
        {
            int n = NodePage.Count(leaf);
            for (; i < n; i++)
            {
                var key = NodePage.Key(leaf, i);
                if (to is not null && key.SequenceCompareTo(to) >= 0)
                {
                    yield break;
                }
                yield return new(key.ToArray(), ValueAt(r, leaf, i));
            }
            uint next = PageHeader.Read(leaf).Next;
            if (next == 0)
            {
                yield break;
            }
            leaf = r.Read(next);
            i = 0;
        }
    }

    private static IEnumerable<KeyValuePair<byte[], byte[]>> Backward(IPageReader r, uint root, byte[]? from, byte[]? to)
    {
        // Reverse order over [from, to): start below 'to' and stop before going under 'from'.
        var leaf = to is null ? Edge(r, root, first: false) : FindLeaf(r, root, to, null);
        int i;
        if (to is null)
        {
            i = NodePage.Count(leaf) - 1;
        }
        else
        {
            NodePage.Search(leaf, to, out i);
            i--;
        }
        while (true)
        {
            for (; i >= 0; i--)
            {
                var key = NodePage.Key(leaf, i);
                if (from is not null && key.SequenceCompareTo(from) < 0)
                {
                    yield break;
                }
                yield return new(key.ToArray(), ValueAt(r, leaf, i));
            }
            uint prev = PageHeader.Read(leaf).Prev;
            if (prev == 0)
            {
                yield break;
            }
            leaf = r.Read(prev);
            i = NodePage.Count(leaf) - 1;
        }
    }

    private static byte[] Edge(IPageReader r, uint root, bool first)
    {
        var page = r.Read(root);
        while (!NodePage.IsLeaf(page))
        {
            page = r.Read(NodePage.Child(page, first ? -1 : NodePage.Count(page) - 1));
        }
        return page;
    }
}
