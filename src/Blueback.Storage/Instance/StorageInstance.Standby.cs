using Blueback.Storage.Format;
using Blueback.Storage.Paging;
using Blueback.Storage.Standby;

namespace Blueback.Storage;

/// <summary>The instance as a warm standby's read-only view (<see cref="StandbyView"/>, Storage/Standby): built from
/// what the view reads there, and refusing, as it says, what only a primary does.</summary>
public sealed partial class StorageInstance
{
    private StandbyState? _standby;

    /// <summary>The standby's position when this view was opened, or null for an ordinary instance.</summary>
    public StandbyState? Standby => _standby;

    public static StorageInstance OpenStandbyView(string directory, InstanceOptions? options = null)
    {
        options ??= new InstanceOptions();
        options.Validate();
        var (record, state) = StandbyView.Read(directory);
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
            throw StandbyView.Refusal(Name, s, what);
        }
    }
}
