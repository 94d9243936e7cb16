using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using Blueback.Storage.Transactions;

namespace Blueback.Storage.Diagnostics;

/// <summary>One table's content as a hash: its rows in key order, each as key length, value length (32-bit little
/// endian), key, value. Two tables with the same digest hold the same rows.</summary>
public sealed record TableDigest(
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("table")] string Table,
    [property: JsonPropertyName("rows")] long Rows,
    [property: JsonPropertyName("sha256")] string Sha256);

/// <summary>Digests of every table of an instance as one read transaction sees them: a backup takes them at the end
/// of its log range, a proof of the set again after restoring it, and the two must agree.</summary>
public static class TableDigests
{
    public static List<TableDigest> Compute(ReadTransaction read, IEnumerable<Database> databases, CancellationToken cancellationToken)
    {
        var digests = new List<TableDigest>();
        Span<byte> lengths = stackalloc byte[8];
        foreach (var db in databases.OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            foreach (var table in read.Tables(db).Order(StringComparer.Ordinal))
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long rows = 0;
                foreach (var (key, value) in read.Scan(db, table))
                {
                    BinaryPrimitives.WriteInt32LittleEndian(lengths, key.Length);
                    BinaryPrimitives.WriteInt32LittleEndian(lengths[4..], value.Length);
                    sha.AppendData(lengths);
                    sha.AppendData(key);
                    sha.AppendData(value);
                    if ((++rows & 1023) == 0)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                }
                digests.Add(new TableDigest(db.Name, table, rows, Convert.ToHexStringLower(sha.GetHashAndReset())));
            }
        }
        return digests;
    }

    /// <summary>Where <paramref name="found"/> differs from <paramref name="expected"/>, each difference named (a
    /// table missing, extra, or with other rows); empty when they agree.</summary>
    public static List<string> Compare(IReadOnlyList<TableDigest> expected, IReadOnlyList<TableDigest> found)
    {
        var problems = new List<string>();
        var byName = found.ToDictionary(d => (d.Database, d.Table));
        foreach (var e in expected)
        {
            if (!byName.Remove((e.Database, e.Table), out var f))
            {
                problems.Add($"table '{e.Table}' of database '{e.Database}' ({e.Rows} rows at the backup's end) is missing after restore");
            }
            else if (f.Sha256 != e.Sha256 || f.Rows != e.Rows)
            {
                problems.Add($"table '{e.Table}' of database '{e.Database}' differs: {e.Rows} rows, digest {e.Sha256[..12]}… at the backup's end; {f.Rows} rows, digest {f.Sha256[..12]}… restored");
            }
        }
        problems.AddRange(byName.Values.Select(f => $"table '{f.Table}' of database '{f.Database}' ({f.Rows} rows) is in the restore but was not at the backup's end"));
        return problems;
    }
}
