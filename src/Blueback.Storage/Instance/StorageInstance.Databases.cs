using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Paging;

namespace Blueback.Storage;

public sealed partial class StorageInstance
{
    /// <summary>Creates a database file <c>NAME.bdb</c> in the instance directory and attaches it.</summary>
    public Database CreateDatabase(string name, int? pageSize = null)
    {
        ThrowIfReadOnly("creating a database");
        ValidateName(name);
        using var writer = HoldWriter();
        if (TryGetDatabase(name) is not null)
        {
            throw new StorageException($"Instance '{Name}' already has a database named '{name}'.");
        }
        var path = Path.Combine(Directory, name + DatabaseExtension);
        var file = DatabaseFile.Create(path, pageSize ?? Options.DefaultPageSize, Signature.New(), LogSignature);
        file.Faults = Options.Faults;
        return AttachCore(file, name);
    }

    /// <summary>Attaches an existing database file. A database that belongs to another log stream must have been
    /// shut down cleanly.</summary>
    public Database AttachDatabase(string path, string? name = null)
    {
        name ??= Path.GetFileNameWithoutExtension(path);
        ValidateName(name);
        using var writer = HoldWriter();
        if (TryGetDatabase(name) is not null)
        {
            throw new StorageException($"Instance '{Name}' already has a database named '{name}'.");
        }
        var file = DatabaseFile.Open(Path.GetFullPath(path));
        file.Faults = Options.Faults;
        try
        {
            var h = file.ReadHeader();
            if (h.State == DatabaseState.RestoredAwaitingRecovery)
            {
                throw new DatabaseStateException($"Database '{path}' was restored from a backup and awaits hard recovery; run restore's recovery before attaching it.");
            }
            if (!h.LogSignature.IsEmpty && h.LogSignature != LogSignature && h.State == DatabaseState.Dirty)
            {
                throw new DatabaseStateException($"Database '{path}' was not shut down cleanly and belongs to another log stream ({h.LogSignature}); recover it with its own instance's logs first.");
            }
            return AttachCore(file, name);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private Database AttachCore(DatabaseFile file, string name)
    {
        ushort id;
        lock (_dbLock)
        {
            id = _databases.Count == 0 ? (ushort)1 : (ushort)(_databases.Keys.Max() + 1);
            if (_databases.Count >= Math.Min(LogFileHeader.MaxAttachments, Format.CheckpointHeader.MaxAttachments))
            {
                throw new StorageLimitException($"Instance '{Name}' already has the most databases it can attach.");
            }
        }
        var header = file.ReadHeader();
        var rel = Encoding.UTF8.GetBytes(Relative(file.Path));
        var payload = new byte[Signature.SizeOf + 2 + rel.Length];
        var sig = header.DatabaseSignature;
        MemoryMarshal.Write(payload, in sig);
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(Signature.SizeOf), (ushort)rel.Length);
        rel.CopyTo(payload, Signature.SizeOf + 2);
        Lsn end;
        using (_log.AppendScope())
        {
            _log.AppendSmall(LogRecordType.Attach, id, 0, payload);
            end = _log.AppendPositionLocked;
        }
        _log.FlushTo(end, Options.WaitTimeout);
        var db = new Database(this, id, name, file, header);
        db.UpdateHeader((ref DatabaseHeader h) =>
        {
            h.State = DatabaseState.Dirty;
            h.LogSignature = LogSignature;
            h.GenMinRequired = _checkpoint.Generation;
            h.GenMaxRequired = _log.CurrentGeneration;
        });
        lock (_dbLock)
        {
            _databases[id] = db;
        }
        lock (_checkpointLock)
        {
            WriteCheckpointFile();
        }
        return db;
    }

    /// <summary>Writes the database's pages back, marks it clean and detaches it.</summary>
    public void DetachDatabase(Database db)
    {
        using var writer = HoldWriter();
        DetachCore(db);
    }

    private void DetachCore(Database db)
    {
        if (_backups.Running is { } running)
        {
            throw new DatabaseStateException($"Database '{db.Name}' cannot be detached while a {running.Type.Name()} backup of instance '{Name}' runs; end or abort it first.");
        }
        lock (_checkpointLock)
        {
            Cache.WriteBack(Cache.DirtyFrames(db.Id));
            db.File.Sync();
            Lsn end;
            using (_log.AppendScope())
            {
                _log.AppendSmall(LogRecordType.Detach, db.Id, 0, default);
                end = _log.AppendPositionLocked;
            }
            _log.FlushTo(end, Options.WaitTimeout);
            lock (_dbLock)
            {
                _databases.Remove(db.Id);
            }
            WriteCheckpointFile();
            db.UpdateHeader((ref DatabaseHeader h) =>
            {
                h.State = DatabaseState.Clean;
                h.ConsistentLsn = end.Value;
                h.ConsistentTicks = DateTime.UtcNow.Ticks;
            });
            Cache.Forget(db.Id);
            db.Detached = true;
            db.File.Dispose();
        }
    }

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || name.StartsWith('.'))
        {
            throw new StorageLimitException($"Database name '{name}' is not valid: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'.");
        }
    }

    /// <summary>Holds the writer lock for an instance-level change (attach, detach, close).</summary>
    private WriterHold HoldWriter()
    {
        ThrowIfUnusable();
        if (!_writer.Wait(Options.WaitTimeout))
        {
            throw WriterTimeout();
        }
        return new WriterHold(_writer);
    }

    private readonly struct WriterHold(SemaphoreSlim s) : IDisposable
    {
        public void Dispose() => s.Release();
    }
}
