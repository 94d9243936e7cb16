namespace Blueback.Storage.Log;

public enum LogRecordType : byte
{
    None = 0,
    /// <summary>A whole page: the first change to a page since the last checkpoint began.</summary>
    PageImage = 1,
    /// <summary>Byte ranges of a page that changed since its previous logged state.</summary>
    PageDelta = 2,
    /// <summary>Ends a transaction: every record since the previous commit belongs to it.</summary>
    Commit = 3,
    Attach = 4,
    Detach = 5,
    /// <summary>Written by the flusher at the end of every flush batch; tells a torn tail from older damage.</summary>
    FlushMark = 6,
    /// <summary>The last record of a generation: the log continues in the next one.</summary>
    GenerationEnd = 7,
    /// <summary>A backup ended: redo writes its record into the database header.</summary>
    BackupRecorded = 8,
}
