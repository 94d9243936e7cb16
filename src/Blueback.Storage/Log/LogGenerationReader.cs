using System.Buffers.Binary;
using Blueback.Storage.Format;

namespace Blueback.Storage.Log;

/// <summary>Reads one generation's records in order and says how they end.</summary>
internal sealed class LogGenerationReader
{
    private readonly byte[] _data;
    private int _at;

    private LogGenerationReader(string path, uint generation, byte[] data, int length, LogFileHeader header, List<LogAttachment> attachments)
    {
        Path = path;
        Generation = generation;
        _data = data;
        Length = length;
        Header = header;
        Attachments = attachments;
        _at = LogFileHeader.RegionSize;
    }

    public string Path { get; }

    /// <summary>The whole file as read (the backup sends these bytes once they verified).</summary>
    public ReadOnlyMemory<byte> Bytes => _data.AsMemory(0, Length);
    public uint Generation { get; }
    public int Length { get; }
    public LogFileHeader Header { get; }
    public List<LogAttachment> Attachments { get; }

    /// <summary>Set once <see cref="TryRead"/> returns false.</summary>
    public LogEnd End { get; private set; }

    /// <summary>Where the valid records stop (the position of the first record that is not valid, or of the
    /// generation-end record).</summary>
    public Lsn EndPosition => new(Generation, (uint)_at);

    public static LogGenerationReader Open(string directory, uint generation)
    {
        var path = LogFiles.PathOf(directory, generation);
        if (!File.Exists(path))
        {
            throw new LogCorruptException($"Log generation {generation} is missing: '{path}' does not exist. Restore it from a backup; without it the log after generation {generation - 1} cannot be replayed.", generation);
        }
        byte[] data;
        int length;
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            long size = RandomAccess.GetLength(handle);
            if (size > int.MaxValue)
            {
                throw new LogCorruptException($"Log file '{path}' is {size} bytes, larger than any generation can be.", generation);
            }
            data = new byte[size];
            length = 0;
            while (length < size)
            {
                int n = RandomAccess.Read(handle, data.AsSpan(length), length);
                if (n == 0)
                {
                    break;
                }
                length += n;
            }
        }
        var (header, attachments) = LogFiles.ReadHeader(data.AsSpan(0, length), path, generation);
        return new LogGenerationReader(path, generation, data, length, header, attachments);
    }

    /// <summary>A generation held in memory (a copy inside a backup set, say).</summary>
    public static LogGenerationReader FromBytes(byte[] data, string name, uint generation)
    {
        var (header, attachments) = LogFiles.ReadHeader(data, name, generation);
        return new LogGenerationReader(name, generation, data, data.Length, header, attachments);
    }

    public bool TryRead(out LogRecord record)
    {
        record = default;
        var span = _data.AsSpan(0, Length);
        var lsn = new Lsn(Generation, (uint)_at);
        if (!LogRecordLayout.IsValid(span, _at, lsn, out int length))
        {
            End = ClassifyBadRecord();
            return false;
        }
        var type = (LogRecordType)span[_at + 16];
        if (type == LogRecordType.GenerationEnd)
        {
            End = LogEnd.GenerationEnd;
            return false;
        }
        var db = BinaryPrimitives.ReadUInt16LittleEndian(span[(_at + 18)..]);
        var page = BinaryPrimitives.ReadUInt32LittleEndian(span[(_at + 20)..]);
        int padded = LogRecordLayout.Padded(length);
        record = new LogRecord(lsn, type, db, page, _data.AsMemory(_at + LogRecordLayout.HeaderSize, length - LogRecordLayout.HeaderSize), padded);
        _at += padded;
        return true;
    }

    /// <summary>A record at the current position is missing or bad. If a flush mark later in this file says that
    /// a flush finished past this position, the bad bytes were once durable: damage. Otherwise they belong to the
    /// last flush, which a crash interrupted: a torn tail.</summary>
    private LogEnd ClassifyBadRecord()
    {
        var span = _data.AsSpan(0, Length);
        for (int p = _at + LogRecordLayout.Alignment; p + LogRecordLayout.HeaderSize + 8 <= Length; p += LogRecordLayout.Alignment)
        {
            var lsn = new Lsn(Generation, (uint)p);
            if (BinaryPrimitives.ReadUInt64LittleEndian(span[(p + 8)..]) != lsn.Value || span[p + 16] != (byte)LogRecordType.FlushMark)
            {
                continue;
            }
            if (!LogRecordLayout.IsValid(span, p, lsn, out _))
            {
                continue;
            }
            var durableBefore = BinaryPrimitives.ReadUInt64LittleEndian(span[(p + LogRecordLayout.HeaderSize)..]);
            if (durableBefore > (ulong)new Lsn(Generation, (uint)_at).Value)
            {
                return LogEnd.Damaged;
            }
        }
        return LogEnd.TornTail;
    }
}
