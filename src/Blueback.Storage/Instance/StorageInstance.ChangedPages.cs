using Blueback.Storage.ChangedPages;
using Blueback.Storage.Format;

namespace Blueback.Storage;

public sealed partial class StorageInstance
{
    private PageSummaries? _summaries;

    /// <summary>The instance's page summaries (null on a standby, which takes no backup).</summary>
    internal PageSummaries? Summaries => _summaries;

    private void StartSummaries() =>
        _summaries ??= new PageSummaries(LogDirectory, LogSignature, () => _log.FileGeneration, KeepSummariesFrom, Options.SummarizeInBackground);

    /// <summary>The oldest generation a changed-pages backup can still ask about: the oldest full backup a database
    /// records. A database without one needs no summary (its first full starts later), so an instance never backed up
    /// summarizes nothing.</summary>
    private uint KeepSummariesFrom()
    {
        var fulls = Databases.Where(d => !d.Header.LastFull.IsEmpty).Select(d => d.Header.LastFull.GenLow).ToList();
        return fulls.Count == 0 ? uint.MaxValue : fulls.Min();
    }

    /// <summary>Every generation removed from the log goes here: its page summary is made durable first (so changed-pages
    /// backups keep knowing what it changed), then it is retired.</summary>
    private List<uint> RetireGenerations(List<uint> generations)
    {
        if (generations.Count > 0)
        {
            _summaries?.EnsureBeforeRetire(generations);
        }
        return Retirement.Retire(generations);
    }
}
