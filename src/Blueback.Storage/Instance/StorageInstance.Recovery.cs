using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;
using Blueback.Storage.Recovery;

namespace Blueback.Storage;

/// <summary>What soft recovery found when an instance was opened.</summary>
public sealed record RecoveryReport(bool WasClean, Lsn From, Lsn To, long TransactionsReplayed, long PagesApplied, uint NewGeneration);

public sealed partial class StorageInstance
{
    private void Recover(CheckpointState state)
    {
        System.IO.Directory.CreateDirectory(LogDirectory);
        var files = new List<(ushort, DatabaseFile, Signature)>();
        var names = new Dictionary<ushort, string>();
        try
        {
            foreach (var a in state.Databases)
            {
                var file = OpenAttached(a.Id, a.Signature, a.Path, strict: true)!;
                files.Add((a.Id, file, a.Signature));
                names[a.Id] = a.Path;
            }
            var replayer = new LogReplayer(LogDirectory, LogSignature, files, (id, sig, path) =>
            {
                var f = OpenAttached(id, sig, path, strict: false);
                if (f is not null)
                {
                    files.Add((id, f, sig));
                    names[id] = path;
                }
                return f;
            }, Options.CacheSize / 2);
            var end = replayer.Replay(state.Checkpoint);

            var attached = files.ToDictionary(f => f.Item1, f => (f.Item2, f.Item3));
            foreach (var (id, change) in replayer.AttachChanges)
            {
                if (change is null)
                {
                    attached.Remove(id);
                }
                else
                {
                    attached[id] = change.Value;
                }
            }
            foreach (var f in files.Where(f => !attached.TryGetValue(f.Item1, out var a) || a.Item1 != f.Item2))
            {
                f.Item2.Dispose();
            }

            var (newGen, previousCreated) = SealLogEnd(end);
            bool wasClean = end == state.Checkpoint && attached.Values.All(a => a.Item1.ReadHeader().State == DatabaseState.Clean);
            foreach (var (id, (file, _)) in attached)
            {
                var header = file.ReadHeader();
                _databases[id] = new Database(this, id, NameOf(names[id]), file, header);
            }
            StartLog(newGen, previousCreated);
            _checkpoint = new Lsn(newGen, LogFileHeader.RegionSize);
            Cache.RedoPoint = _checkpoint;
            _checkpointRevision = state.Revision;
            WriteCheckpointFile();
            MarkDatabasesInUse();
            LastRecovery = new RecoveryReport(wasClean, state.Checkpoint, end, replayer.TransactionsReplayed, replayer.RecordsApplied, newGen);
        }
        catch
        {
            foreach (var f in files)
            {
                f.Item2.Dispose();
            }
            _databases.Clear();
            throw;
        }
    }

    private static string NameOf(string path) => Path.GetFileNameWithoutExtension(path);

    private string Resolve(string path) => Path.IsPathRooted(path) ? path : Path.Combine(Directory, path);

    private string Relative(string path)
    {
        var full = Path.GetFullPath(path);
        var rel = Path.GetRelativePath(Directory, full);
        return rel.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(rel) ? full : rel;
    }

    /// <summary>Opens a database the instance knows about and checks that it is the right one, in a state that
    /// soft recovery may touch.</summary>
    private DatabaseFile? OpenAttached(ushort id, Signature signature, string path, bool strict)
    {
        var full = Resolve(path);
        if (!DatabaseFile.Exists(full, Options.PageStores))
        {
            if (!strict)
            {
                return null; // attached once and gone since; a later detach record says so
            }
            throw new DatabaseStateException($"Instance '{Name}': attached database {id} is missing: '{full}' does not exist. Restore it from a backup, or detach it.");
        }
        var file = DatabaseFile.Open(full, stores: Options.PageStores);
        file.Faults = Options.Faults; // as for a database created or attached now: an instance opened again is drilled alike
        try
        {
            var h = file.ReadHeader();
            if (h.DatabaseSignature != signature)
            {
                if (!strict)
                {
                    file.Dispose();
                    return null;
                }
                throw new DatabaseStateException($"'{full}' is not the database instance '{Name}' attached as id {id} (its signature is {h.DatabaseSignature}, expected {signature}). Put the right file back or restore it.");
            }
            if (h.State == DatabaseState.RestoredAwaitingRecovery || (h.CurrentBackup.GenLow != 0 && h.CurrentBackup.GenHigh == 0))
            {
                throw new DatabaseStateException($"Database '{full}' was restored from a backup and awaits hard recovery; soft recovery must not touch it. Run 'blueback db recover {Directory}' (restore's recovery) first.");
            }
            if (!h.LogSignature.IsEmpty && h.LogSignature != LogSignature && h.State != DatabaseState.Clean)
            {
                throw new DatabaseStateException($"Database '{full}' belongs to another log stream ({h.LogSignature}) and was not shut down cleanly; it needs that stream's logs to recover, not this instance's ({LogSignature}).");
            }
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Makes the recovered end of the log a clean boundary: a generation-end record where the committed
    /// log stops, and no generation after it (they can hold only a torn, uncommitted tail). Returns the generation
    /// to create next and the creation time of the one before it.</summary>
    private (uint NewGeneration, long PreviousCreated) SealLogEnd(Lsn end)
    {
        uint newGen;
        if (end.Offset == LogFileHeader.RegionSize)
        {
            newGen = end.Generation;
        }
        else
        {
            LogFiles.EndGenerationAt(LogDirectory, end);
            newGen = end.Generation + 1;
        }
        bool removed = false;
        foreach (var g in LogFiles.List(LogDirectory).Where(g => g >= newGen))
        {
            File.Delete(LogFiles.PathOf(LogDirectory, g));
            removed = true;
        }
        if (removed)
        {
            FileSystem.SyncDirectory(LogDirectory);
        }
        long previousCreated = newGen > 1 && File.Exists(LogFiles.PathOf(LogDirectory, newGen - 1))
            ? LogFiles.ReadHeader(LogDirectory, newGen - 1).Header.CreatedTicks
            : 0;
        return (newGen, previousCreated);
    }

    private void MarkDatabasesInUse()
    {
        foreach (var db in Databases)
        {
            db.UpdateHeader((ref DatabaseHeader h) =>
            {
                h.State = DatabaseState.Dirty;
                h.LogSignature = LogSignature;
                h.GenMinRequired = _checkpoint.Generation;
                h.GenMaxRequired = _checkpoint.Generation;
            });
        }
    }
}
