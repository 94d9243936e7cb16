using Blueback.Storage.Format;

namespace Blueback.Storage.Log;

/// <summary>A record read back from a generation. The payload refers to the reader's buffer.</summary>
internal readonly record struct LogRecord(Lsn Lsn, LogRecordType Type, ushort Database, uint Page, ReadOnlyMemory<byte> Payload, int PaddedLength)
{
    public Lsn End => new(Lsn.Generation, Lsn.Offset + (uint)PaddedLength);
}

/// <summary>How the records of a generation ended.</summary>
public enum LogEnd
{
    /// <summary>A generation-end record: the log continues in the next generation.</summary>
    GenerationEnd,
    /// <summary>Records stop where nothing valid follows from a finished flush: the normal end after a crash.</summary>
    TornTail,
    /// <summary>A damaged record is followed by a record that was flushed after it: real damage.</summary>
    Damaged,
}
