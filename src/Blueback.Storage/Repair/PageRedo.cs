using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Recovery;

namespace Blueback.Storage.Repair;

/// <summary>Lays the committed changes to one page onto an image of it, generation after generation in order: a page
/// repair rolling a source's image forward through the instance's own log, and a repository source bringing a set's
/// fuzzy image to the end of the set's logs. A record is laid only once its transaction's commit is read (it may be in
/// a later generation) and only when newer than the page, as redo does.</summary>
public sealed class PageRedo(Signature logSignature, ushort databaseId, uint page, Lsn from)
{
    private readonly List<LogRecord> _pending = [];

    /// <summary>Whether <paramref name="image"/> is page <paramref name="page"/> and passes its checksum (computed with
    /// the page number folded in, so a page written to the wrong place fails it too).</summary>
    public static bool IsIntact(ReadOnlySpan<byte> image, uint page) => Checksum.VerifyPage(image, page) && PageHeader.Read(image).PageNumber == page;

    /// <summary>Stamps the checksum of an image that changes were laid on.</summary>
    public static void Seal(Span<byte> image, uint page) => Checksum.StampPage(image, page);

    /// <summary>Changes laid on the image so far.</summary>
    public int Replayed { get; private set; }

    /// <summary>Replays generation <paramref name="generation"/> of the log in <paramref name="directory"/> (the last may
    /// still be written: its records stop where the flushed ones do).</summary>
    public void Replay(string directory, uint generation, byte[] image) => Replay(LogGenerationReader.Open(directory, generation), image, whole: false);

    /// <summary>Replays a closed generation held in memory (read back from a repository): it must end with its end
    /// record, or the changes after the damage would be missed.</summary>
    public void Replay(byte[] generationBytes, string name, uint generation, byte[] image) =>
        Replay(LogGenerationReader.FromBytes(generationBytes, name, generation), image, whole: true);

    private void Replay(LogGenerationReader reader, byte[] image, bool whole)
    {
        if (reader.Header.LogSignature != logSignature)
        {
            throw new StorageException($"log generation {reader.Generation} ('{reader.Path}') belongs to another log stream ({reader.Header.LogSignature.Id:N}, expected {logSignature.Id:N})");
        }
        while (reader.TryRead(out var rec))
        {
            if (rec.Lsn < from)
            {
                continue;
            }
            if (rec.Type is LogRecordType.PageImage or LogRecordType.PageDelta && rec.Database == databaseId && rec.Page == page)
            {
                _pending.Add(rec);
            }
            else if (rec.Type == LogRecordType.Commit)
            {
                foreach (var r in _pending)
                {
                    Replayed += Apply(r, image) ? 1 : 0;
                }
                _pending.Clear();
            }
        }
        if (whole && reader.End != LogEnd.GenerationEnd)
        {
            throw new LogCorruptException($"Log generation {reader.Generation} ('{reader.Path}') is damaged at offset {reader.EndPosition.Offset} (it does not end with its end record): the changes to page {page} after it cannot be replayed.", reader.Generation, reader.EndPosition.Offset);
        }
    }

    private static bool Apply(LogRecord rec, byte[] image)
    {
        if (Lsn.FromValue(PageHeader.Read(image).Lsn) >= rec.Lsn)
        {
            return false;
        }
        LogReplayer.ApplyToPage(rec, image, "");
        return true;
    }
}
