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

    /// <summary>A page as this standby view holds it (page number and checksum stamped) and the log position the view
    /// was applied through: what a primary repairing that page from this standby needs (docs/engine.md).</summary>
    public (byte[] Data, Lsn AppliedThrough) PageForRepair(Database db, uint page)
    {
        if (_standby is not { } s)
        {
            throw new StandbyException($"Instance '{Name}' is not a warm standby: only a standby serves page images for repair (give 'blueback serve --repair-from' a standby's address).");
        }
        if ((long)(page + 1) * db.PageSize > RandomAccess.GetLength(db.File.Handle))
        {
            throw new PageNotFoundException($"Database '{db.Name}' of standby '{Name}' has no page {page} (its file ends before it): the standby is behind the primary; it cannot repair this page yet.");
        }
        using var read = BeginRead();
        var data = (byte[])Cache.Read(db.Id, page, read.Snapshot).Clone();
        PageHeader.Of(data).PageNumber = page;
        Checksum.StampPage(data, page);
        return (data, Lsn.FromValue(s.End));
    }

    /// <summary>Refuses what a read-only instance (a warm standby, a mounted backup set) does not do.</summary>
    private void ThrowIfReadOnly(string what)
    {
        if (_standby is { } s)
        {
            throw StandbyView.Refusal(Name, s, what);
        }
        if (Options.MountedSet is { } set)
        {
            throw new MountedSetException($"Instance '{Name}' is a mounted backup set ({set}), read-only: {what} is refused. Restore the set ('blueback restore') to get an instance that takes writes.");
        }
    }
}
