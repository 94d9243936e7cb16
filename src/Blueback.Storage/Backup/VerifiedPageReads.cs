using System.Runtime.InteropServices;
using Blueback.Storage.Format;

namespace Blueback.Storage.Backup;

/// <summary>Reads of a database's pages for a backup, each checked: a whole image and a changed-pages image read
/// through this same code, so both verify every page's checksum and number, retry a transient mismatch (bounded, cut
/// short by an abort) and name the database file and page when one stays wrong.</summary>
/// <param name="reread">How a range that failed its check is read again (through the page cache, for a first
/// read that went around it); <paramref name="read"/> when null.</param>
internal sealed class VerifiedPageReads(InstanceBackup backup, Database db, Action<uint, Span<byte>> read, Action forget, Action<uint, Span<byte>>? reread = null)
{
    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(40), TimeSpan.FromMilliseconds(80), TimeSpan.FromMilliseconds(160)];

    /// <summary>Reads pages <paramref name="first"/> onwards into <paramref name="span"/> (under the file's range lock,
    /// so no flush can tear them) and checks each; a mismatch is read again after a short wait, and one that persists
    /// fails the backup naming the page.</summary>
    public void Load(uint first, int count, Span<byte> span)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                (attempt == 0 ? read : reread ?? read)(first, span);
            }
            catch (IOException ex)
            {
                throw new StorageIOException($"Reading pages {first} to {first + count - 1} of database '{db.Name}' ('{db.File.Path}') for the backup failed: {ex.Message}. The backup cannot go on; the instance keeps serving. Check the disk, then take the backup again.", ex);
            }
            uint? bad = FirstBadPage(first, count, span);
            if (bad is null)
            {
                if (attempt > 0)
                {
                    backup.ReportTransientRead(db.Name, first, attempt);
                }
                return;
            }
            if (attempt >= RetryDelays.Length)
            {
                throw new PageCorruptException(db.File.Path, bad.Value,
                    $"the page fails its checksum or page number in backup reads ({attempt + 1} reads over {RetryDelays.Sum(d => d.TotalMilliseconds):0} ms), so database '{db.Name}' cannot be backed up");
            }
            backup.WaitBeforeRetry(db.Name, bad.Value, attempt, RetryDelays[attempt]);
            forget(); // read again from the file, not from what was read ahead
        }
    }

    private uint? FirstBadPage(uint first, int count, ReadOnlySpan<byte> span)
    {
        int pageSize = db.PageSize;
        for (int i = 0; i < count; i++)
        {
            var page = span.Slice(i * pageSize, pageSize);
            uint no = first + (uint)i;
            if (Checksum.VerifyPage(page, no) ? PageHeader.Read(page).PageNumber != no : !Checksum.IsAllZero(page))
            {
                return no;
            }
        }
        return null;
    }

    /// <summary>The header pages (0 and 1) of an image: the database header with the current-backup record.</summary>
    public static byte[] HeaderPages(InstanceBackup backup, DatabaseHeader header, int pageSize)
    {
        var pages = new byte[(FormatConstants.ShadowHeaderPage + 1) * pageSize];
        header.CurrentBackup = new BackupInfo { MarkLsn = backup.Mark.Value, MarkTicks = backup.Started.Ticks, GenLow = backup.GenLow, GenHigh = 0 };
        for (uint copy = FormatConstants.HeaderPage; copy <= FormatConstants.ShadowHeaderPage; copy++)
        {
            var page = pages.AsSpan((int)copy * pageSize, pageSize);
            header.Page.PageNumber = copy;
            header.Page.Type = PageType.DatabaseHeader;
            MemoryMarshal.Write(page, in header);
            Checksum.StampPage(page, copy);
        }
        return pages;
    }

    /// <summary>The trailer page of an image: what it is and which logs complete it, stamped as page
    /// <paramref name="pageCount"/> (where it lies in a restored file).</summary>
    public static byte[] TrailerPage(InstanceBackup backup, Database db, uint pageCount)
    {
        var page = new byte[db.PageSize];
        var t = new BackupTrailer
        {
            Magic = BackupTrailer.MagicValue,
            FormatVersion = BackupTrailer.CurrentVersion,
            DatabaseId = db.Id,
            DatabaseSignature = db.Signature,
            LogSignature = db.Instance.LogSignature,
            GenLow = backup.GenLow,
            GenHigh = db.Instance.CurrentGeneration,
            MarkLsn = backup.Mark.Value,
            MarkTicks = backup.Started.Ticks,
            PageCount = pageCount,
            PageSize = (uint)db.PageSize,
            BackupId = backup.Id,
            RedoLsn = backup.RedoPoint.Value,
        };
        t.Page.Type = PageType.BackupTrailer;
        t.Page.PageNumber = pageCount;
        MemoryMarshal.Write(page, in t);
        Checksum.StampPage(page, pageCount);
        return page;
    }
}
