using Blueback.Storage.Format;

namespace Blueback.Storage.Paging;

/// <summary>One committed state of a page. Published versions are never modified again, so a reader may keep
/// using one after it leaves the cache.</summary>
internal sealed class PageVersion(byte[] data, long sequence, PageVersion? older)
{
    public readonly byte[] Data = data;
    /// <summary>The commit sequence that produced this version (0: read from disk, valid for every snapshot).</summary>
    public readonly long Sequence = sequence;
    public PageVersion? Older = older;
}

/// <summary>A cached page: its committed versions, newest first, and its write-back state.</summary>
internal sealed class Frame(ushort database, uint page)
{
    public readonly ushort Database = database;
    public readonly uint Page = page;
    public PageVersion? Latest;
    public bool Dirty;
    /// <summary>The commit end that must be durable before this page may be written (write-ahead rule).</summary>
    public Lsn FlushRequired;
    /// <summary>Position of the last whole-page image logged for this page; a change after the current redo
    /// point that finds this older logs a whole image again (torn-page protection).</summary>
    public Lsn LastImage;
    public bool Referenced;
    public int Pins;
    public int ClockIndex = -1;
    /// <summary>Set while a thread reads the page from disk; others wait on it.</summary>
    public ManualResetEventSlim? Loading;
    public Exception? LoadError;
    /// <summary>Serializes write-back of this page so that an older version never lands after a newer one.</summary>
    public readonly Lock WriteLock = new();
}
