using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Chunks;
using Blueback.Storage.Backup;

namespace Blueback.Backup;

/// <summary>Where a full backup that passes over unchanged pages (<see cref="BackupRequest.SkipUnchanged"/>) names them
/// from: the newest full set of the instance in the repository. Its images hold every change made before its first
/// generation (a full begins at a fresh generation and checkpoint), so a page the server's page maps show unchanged
/// since then is, byte for byte, the page that set holds; a chunk of such pages is that set's chunk at the same place.</summary>
internal static class UnchangedBase
{
    /// <summary>The newest full set of <paramref name="instance"/> whose chunks are named by their content (format 2);
    /// null when the repository holds none. Newest by its end, not its generations: after a restore to a point in time the
    /// instance's generations start again below those of sets of the history it left. The server skips nothing unless
    /// the set is the last full each database records.</summary>
    public static Manifest? Choose(IReadOnlyList<Manifest> sets, string instance) =>
        sets.Where(s => s.Instance == instance && s.FormatVersion >= 2 && s.Type == BackupType.Full.Name())
            .OrderBy(s => s.Ended).LastOrDefault();

    /// <summary>Why a full must read every page although asked to skip: the newest full set of <paramref name="instance"/>
    /// that read every page ended more than <paramref name="readAllAfter"/> before <paramref name="now"/>, or there is none
    /// (retention forgot it); null when skipping is allowed.</summary>
    public static string? ReadAllDue(IReadOnlyList<Manifest> sets, string instance, TimeSpan readAllAfter, DateTime now)
    {
        var last = sets.Where(s => s.Instance == instance && s.Type == BackupType.Full.Name() && s.UnchangedFrom is null)
            .OrderBy(s => s.Ended).LastOrDefault();
        if (last is null)
        {
            return $"the repository holds no full set of instance '{instance}' that read every page, and one is due every {Durations.Format(readAllAfter)}";
        }
        var age = now - last.Ended;
        return age > readAllAfter
            ? $"the newest full set that read every page ({last.SetId}) ended {Durations.Format(age)} ago, and one is due every {Durations.Format(readAllAfter)}"
            : null;
    }

    /// <summary>The content hashes of the base's chunks of <paramref name="db"/>'s image, by their offset in the image
    /// (with their size); null, with why, when the base does not hold this database as it is now.</summary>
    public static Dictionary<long, (int RawSize, byte[] Hash)>? ChunksOf(Manifest set, BackupDatabaseInfo db, bool encrypted, out string? why)
    {
        why = null;
        if (db.ChangedPages is null)
        {
            why = $"database '{db.Name}': the server cannot say which pages changed since set {set.SetId} began ({db.ChangedPagesProblem ?? "no page map"})";
            return null;
        }
        var mine = set.Databases.FirstOrDefault(d => d.Name == db.Name);
        var file = set.Files.FirstOrDefault(f => f.Path == SetLayout.DatabasePath(db.Name));
        if (mine is null || file is null || mine.Signature != db.Signature || mine.PageSize != db.PageSize)
        {
            why = $"database '{db.Name}' is not in set {set.SetId} as it is now (attached after it, or another database by that name)";
            return null;
        }
        var chunks = new Dictionary<long, (int, byte[])>();
        long at = 0;
        foreach (var c in file.Chunks)
        {
            // Unencrypted, a chunk's id is its content's SHA-256; encrypted, the manifest keeps the hash (older ones did
            // not: those chunks are read again).
            var hex = encrypted ? c.Hash : ChunkObject.IdOf(c.Key);
            if (hex is { Length: 64 })
            {
                chunks[at] = (c.RawSize, Convert.FromHexString(hex));
            }
            at += c.RawSize;
        }
        if (chunks.Count == 0)
        {
            why = $"database '{db.Name}': set {set.SetId} keeps no content hashes of its chunks (an encrypted set written before they were kept)";
            return null;
        }
        return chunks;
    }
}
