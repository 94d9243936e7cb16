using System.Buffers.Binary;
using System.Text;
using Blueback.Storage.Format;

namespace Blueback.Storage.BTree;

/// <summary>The catalog of a database: a B+tree on page 3 from table name (UTF-8) to the table's root page.</summary>
internal static class Catalog
{
    public const int MaxNameBytes = 255;

    public static byte[] NameKey(string table)
    {
        if (string.IsNullOrEmpty(table))
        {
            throw new StorageLimitException("A table name must not be empty.");
        }
        var key = Encoding.UTF8.GetBytes(table);
        if (key.Length > MaxNameBytes)
        {
            throw new StorageLimitException($"Table name '{table[..Math.Min(40, table.Length)]}…' is {key.Length} bytes in UTF-8; the limit is {MaxNameBytes}.");
        }
        return key;
    }

    public static uint? Find(IPageReader r, string table)
    {
        var v = BPlusTree.Get(r, FormatConstants.CatalogRootPage, NameKey(table));
        return v is null ? null : BinaryPrimitives.ReadUInt32LittleEndian(v);
    }

    public static uint Create(IPageWriter w, string table)
    {
        var key = NameKey(table);
        uint root = w.Allocate(PageType.Leaf);
        NodePage.Init(w.Write(root), PageType.Leaf);
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(v, root);
        BPlusTree.Put(w, FormatConstants.CatalogRootPage, key, v);
        return root;
    }

    public static List<string> List(IPageReader r)
    {
        var names = new List<string>();
        foreach (var kv in BPlusTree.Scan(r, FormatConstants.CatalogRootPage, null, null, reverse: false))
        {
            names.Add(Encoding.UTF8.GetString(kv.Key));
        }
        return names;
    }
}
