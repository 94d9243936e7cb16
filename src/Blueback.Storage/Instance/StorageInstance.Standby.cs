using Blueback.Storage.Format;
using Blueback.Storage.Paging;
using Blueback.Storage.Restore;
using Blueback.Storage.Standby;

namespace Blueback.Storage;

/// <summary>A read-only view of a warm standby: its databases as the last apply left them, read through the cache
/// like any instance's, with no log and no checkpointer. Writes, backups and shipping are refused (409). The
/// standby closes the view while it applies the next generations and opens a new one after.</summary>
public sealed partial class StorageInstance
{
    private StandbyState? _standby;

    /// <summary>The standby's position when this view was opened, or null for an ordinary instance.</summary>
    public StandbyState? Standby => _standby;

    public static StorageInstance OpenStandbyView(string directory, InstanceOptions? options = null)
    {
        options ??= new InstanceOptions();
        options.Validate();
        var record = RestoreRecord.Read(directory) ?? throw new StandbyException($"'{Path.GetFullPath(directory)}' has no restore record: it is not a standby.");
        var state = StandbyState.Read(directory) ?? throw new StandbyException($"'{Path.GetFullPath(directory)}' has no standby state: it is not a standby.");
        var instance = new StorageInstance(directory, options, record.LogSignature) { _standby = state };
        try
        {
            foreach (var d in record.Databases)
            {
                var file = DatabaseFile.Open(Path.Combine(instance.Directory, d.Path), writable: false);
                instance._databases[d.Id] = new Database(instance, d.Id, NameOf(d.Path), file, file.ReadHeader());
            }
            instance._checkpoint = Lsn.FromValue(state.Restart);
            return instance;
        }
        catch
        {
            instance.Abandon();
            throw;
        }
    }

    private void ThrowIfStandby(string what)
    {
        if (_standby is { } s)
        {
            throw new StandbyException($"Instance '{Name}' is a warm standby (read-only), following {s.Repository} and applied through log generation {s.AppliedThrough}{(s.LastCommit is { } t ? $" (last commit {t:O})" : "")}: {what} goes to the primary, or promote this standby first ('blueback standby promote').");
        }
    }
}
