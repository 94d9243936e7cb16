using System.Security.Cryptography;
using Blueback.Storage;
using Blueback.Storage.Diagnostics;

namespace Blueback.Backup;

/// <summary>What an instance holds, as one hash over every database, table, key and value in order, after every
/// page of every database file passed its checksum: two instances with the same digest hold the same data.</summary>
public sealed record InstanceDigest(long Rows, string Sha256, int BadPages)
{
    public static InstanceDigest Of(string instanceDirectory)
    {
        int bad = Directory.GetFiles(instanceDirectory, "*" + StorageInstance.DatabaseExtension).Sum(f => DatabaseCheck.Checksum(f).Bad.Count);
        using var inst = StorageInstance.Open(instanceDirectory, new InstanceOptions());
        using var r = inst.BeginRead();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long rows = 0;
        var lengths = new byte[8];
        foreach (var db in inst.Databases.OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            foreach (var table in r.Tables(db).Order(StringComparer.Ordinal))
            {
                sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{db.Name}/{table}\n"));
                foreach (var (key, value) in r.Scan(db, table))
                {
                    BitConverter.TryWriteBytes(lengths, key.Length);
                    BitConverter.TryWriteBytes(lengths.AsSpan(4), value.Length);
                    sha.AppendData(lengths);
                    sha.AppendData(key);
                    sha.AppendData(value);
                    rows++;
                }
            }
        }
        return new InstanceDigest(rows, Convert.ToHexStringLower(sha.GetHashAndReset()), bad);
    }
}
