using Blueback.Storage.Format;
using Blueback.Storage.Recovery;

namespace Blueback.Storage.Log;

/// <summary>A closed generation read and verified in full (header, log stream, every record, its end record), as a
/// backup or a shipper sends it: a damaged generation is never sent as good.</summary>
public sealed class WholeGeneration
{
    private WholeGeneration(uint generation, ReadOnlyMemory<byte> bytes, LogFileHeader header, DateTime? firstCommit, DateTime? lastCommit, int commits)
    {
        Generation = generation;
        Bytes = bytes;
        Created = new DateTime(header.CreatedTicks, DateTimeKind.Utc);
        LogSignatureId = header.LogSignature.Id;
        FirstCommit = firstCommit;
        LastCommit = lastCommit;
        Commits = commits;
    }

    public uint Generation { get; }
    public ReadOnlyMemory<byte> Bytes { get; }
    public DateTime Created { get; }
    /// <summary>The log stream the generation belongs to (manifests name it in "N" form).</summary>
    public Guid LogSignatureId { get; }
    public DateTime? FirstCommit { get; }
    /// <summary>The time in the generation's last commit record: every commit in it is at or before this.</summary>
    public DateTime? LastCommit { get; }
    public int Commits { get; }

    public static WholeGeneration Read(string logDirectory, uint generation, Signature logSignature, string owner) =>
        Check(LogGenerationReader.Open(logDirectory, generation), logSignature, owner);

    /// <summary>Checks a generation held in memory (one read back from a repository).</summary>
    public static WholeGeneration FromBytes(byte[] data, string name, uint generation, Signature? logSignature, string owner) =>
        Check(LogGenerationReader.FromBytes(data, name, generation), logSignature, owner);

    private static WholeGeneration Check(LogGenerationReader reader, Signature? logSignature, string owner)
    {
        uint generation = reader.Generation;
        if (logSignature is { } sig && reader.Header.LogSignature != sig)
        {
            throw new LogCorruptException($"Log generation {generation} ('{reader.Path}') belongs to another log stream ({reader.Header.LogSignature.Id:N}, expected {sig.Id:N}); {owner} cannot include it.", generation);
        }
        DateTime? first = null, last = null;
        int commits = 0;
        while (reader.TryRead(out var rec))
        {
            if (rec.Type == LogRecordType.Commit)
            {
                var t = LogReplayer.CommitTime(rec);
                first ??= t;
                last = t;
                commits++;
            }
        }
        if (reader.End != LogEnd.GenerationEnd)
        {
            throw new LogCorruptException($"Log generation {generation} ('{reader.Path}') is damaged at offset {reader.EndPosition.Offset} (it does not end with its end record); {owner} fails. Run 'blueback db logs' on the log directory.", generation, reader.EndPosition.Offset);
        }
        return new WholeGeneration(generation, reader.Bytes, reader.Header, first, last, commits);
    }
}
