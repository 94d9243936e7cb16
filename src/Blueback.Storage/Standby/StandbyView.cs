using Blueback.Storage.Restore;

namespace Blueback.Storage.Standby;

/// <summary>A read-only view of a warm standby: its databases as the last apply left them, read through the cache
/// like any instance's, with no log and no checkpointer. Writes, backups and shipping are refused (409). The
/// standby closes the view while it applies the next generations and opens a new one after. What a view opens from
/// and how it refuses live here; the instance builds itself from them (StorageInstance.OpenStandbyView).</summary>
internal static class StandbyView
{
    /// <summary>The restore record (the log stream, the databases) and the standby's state a view opens from.</summary>
    public static (RestoreRecord Record, StandbyState State) Read(string directory)
    {
        var record = RestoreRecord.Read(directory) ?? throw new StandbyException($"'{Path.GetFullPath(directory)}' has no restore record: it is not a standby.");
        var state = StandbyState.Read(directory) ?? throw new StandbyException($"'{Path.GetFullPath(directory)}' has no standby state: it is not a standby.");
        return (record, state);
    }

    /// <summary>Something only a primary does, refused on a standby, saying what to do instead.</summary>
    public static StandbyException Refusal(string instance, StandbyState s, string what) =>
        new($"Instance '{instance}' is a warm standby (read-only), following {s.Repository} and applied through log generation {s.AppliedThrough}{(s.LastCommit is { } t ? $" (last commit {t:O})" : "")}: {what} goes to the primary, or promote this standby first ('blueback standby promote').");
}
