using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Recovery;

namespace Blueback.Storage.Standby;

/// <summary>What a lagged standby holds fetched but not applied: the generations in its log directory from where
/// replay stands, their bytes after that position, and the commit time of the first transaction among them (the
/// one the apply delay waits on; null when none has committed yet).</summary>
public sealed record StandbyBacklog(int Generations, long Bytes, DateTime? OldestCommit)
{
    public static readonly StandbyBacklog None = new(0, 0, null);

    /// <summary>Reads the fetched generations from <paramref name="end"/> (where the last apply ended) up to the
    /// first commit; bytes come from the files' lengths.</summary>
    public static StandbyBacklog Of(string instanceDirectory, Lsn end, CancellationToken ct)
    {
        var logDir = Path.Combine(Path.GetFullPath(instanceDirectory), StorageInstance.LogDirectoryName);
        var waiting = LogFiles.List(logDir).Where(g => g >= end.Generation).ToList();
        int generations = 0;
        long bytes = 0;
        DateTime? oldest = null;
        foreach (var g in waiting)
        {
            ct.ThrowIfCancellationRequested();
            long length = new FileInfo(LogFiles.PathOf(logDir, g)).Length;
            long from = g == end.Generation ? end.Offset : LogFileHeader.RegionSize;
            if (length <= from)
            {
                continue;
            }
            if (oldest is null)
            {
                var reader = LogGenerationReader.Open(logDir, g);
                while (reader.TryRead(out var rec))
                {
                    if (rec.Lsn.Offset >= from && rec.Type == LogRecordType.Commit)
                    {
                        oldest = LogReplayer.CommitTime(rec);
                        break;
                    }
                }
            }
            generations++;
            bytes += length - from;
        }
        return new StandbyBacklog(generations, bytes, oldest);
    }
}
