using Blueback.Storage.Format;

namespace Blueback.Storage.Transactions;

/// <summary>Argument checks shared by readers and writers.</summary>
internal static class TableAccess
{
    public static void CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.Length == 0)
        {
            throw new StorageLimitException("A key must not be empty.");
        }
        if (key.Length > FormatConstants.MaxKeyLength)
        {
            throw new StorageLimitException($"Key of {key.Length} bytes is longer than the limit of {FormatConstants.MaxKeyLength} bytes.");
        }
    }

    public static void CheckValue(ReadOnlySpan<byte> value)
    {
        if (value.Length > FormatConstants.MaxValueLength)
        {
            throw new StorageLimitException($"Value of {value.Length} bytes is longer than the limit of {FormatConstants.MaxValueLength} bytes (16 MiB).");
        }
    }

    public static void CheckDatabase(StorageInstance instance, Database db)
    {
        if (db.Instance != instance)
        {
            throw new ArgumentException($"Database '{db.Name}' belongs to instance '{db.Instance.Name}', not '{instance.Name}'.", nameof(db));
        }
        if (db.Detached)
        {
            throw new DatabaseStateException($"Database '{db.Name}' was detached from instance '{instance.Name}'; attach it again first.");
        }
    }

    public static List<KeyValuePair<byte[], byte[]>> Page(IEnumerable<KeyValuePair<byte[], byte[]>> scan, int limit)
    {
        var list = new List<KeyValuePair<byte[], byte[]>>();
        foreach (var kv in scan)
        {
            if (list.Count >= limit)
            {
                break;
            }
            list.Add(kv);
        }
        return list;
    }
}
