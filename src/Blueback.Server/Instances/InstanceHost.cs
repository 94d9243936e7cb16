using System.Text.Json;
using Blueback.Storage;
using Blueback.Storage.Restore;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Instances;

/// <summary>The storage instances the server hosts: those its config declares and those restored into it as new
/// instances (kept in DATA/restored-instances.json so they are served again after a restart). Each is online, being
/// restored, or offline after a restore that did not finish; only an online one serves requests, and taking one
/// offline waits for the requests inside it to leave.</summary>
public sealed class InstanceHost : IDisposable
{
    public const string RestoredInstancesFile = "restored-instances.json";

    private readonly Lock _lock = new();
    private readonly Dictionary<string, InstanceSlot> _slots = new(StringComparer.Ordinal);
    private readonly ServerConfig _config;
    private readonly ILogger _logger;
    private long _order;

    /// <summary>The config the server started with.</summary>
    public ServerConfig Config => _config;

    private readonly Storage.Repair.IPageRepairSource? _repair;

    public InstanceHost(string dataDirectory, ServerConfig config, ILogger logger, Storage.Repair.IPageRepairSource? repair = null)
    {
        _repair = repair;
        DataDirectory = Path.GetFullPath(dataDirectory);
        _config = config;
        _logger = logger;
        Directory.CreateDirectory(DataDirectory);
        try
        {
            foreach (var ic in config.Instances)
            {
                Load(ic, create: true);
            }
            foreach (var name in ReadRestoredNames().Where(n => !_slots.ContainsKey(n)))
            {
                Load(new InstanceConfig { Name = name }, create: false);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string DataDirectory { get; }

    /// <summary>The online instances.</summary>
    public IReadOnlyList<StorageInstance> Instances
    {
        get
        {
            lock (_lock)
            {
                return _slots.Values.Select(s => s.Instance).OfType<StorageInstance>().ToList();
            }
        }
    }

    /// <summary>Every instance the server knows, online or not, by name.</summary>
    public IReadOnlyList<InstanceSlot> Slots
    {
        get
        {
            lock (_lock)
            {
                return _slots.Values.OrderBy(s => s.Order).ToList(); // config order, then restored instances as they came
            }
        }
    }

    /// <summary>An online instance, or null (unknown, or not online: see <see cref="Slot"/>).</summary>
    public StorageInstance? Find(string name) => Slot(name)?.Instance;

    public InstanceSlot? Slot(string name)
    {
        lock (_lock)
        {
            return _slots.GetValueOrDefault(name);
        }
    }

    public string DirectoryOf(string name) => Path.Combine(DataDirectory, name);

    public InstanceOptions OptionsOf(string name) =>
        (_config.Instances.FirstOrDefault(i => i.Name == name) ?? new InstanceConfig { Name = name }).ToOptions() with { PageRepair = _repair };

    /// <summary>Claims <paramref name="name"/> for a restore: a new slot when the server does not know the name, or
    /// the existing one taken offline (requests drained, running backups aborted by the caller first, instance
    /// closed cleanly). Returns whether the instance was online before, so an abort before any file is written can
    /// bring it back untouched.</summary>
    public bool BeginRestore(string name, bool replace, string sessionId, TimeSpan drain)
    {
        InstanceSlot slot;
        lock (_lock)
        {
            if (!_slots.TryGetValue(name, out slot!))
            {
                if (replace)
                {
                    throw new RestoreConflictException($"Instance '{name}' does not exist on this server, so there is nothing to replace. Restore it as a new instance (without --replace).");
                }
                slot = new InstanceSlot(name) { State = InstanceState.Restoring, RestoreSession = sessionId, Order = ++_order };
                _slots[name] = slot;
                return false;
            }
            if (slot.State == InstanceState.Restoring)
            {
                throw new RestoreConflictException($"Instance '{name}' is being restored by session {slot.RestoreSession}; wait for it to end or abort it.");
            }
            if (slot.State == InstanceState.Online && !replace)
            {
                throw new RestoreConflictException($"Instance '{name}' exists and is online. Restore under a new name (--as NAME), or replace it on purpose (--replace).");
            }
            slot.RestoreSession = sessionId;
            bool wasOffline = slot.State == InstanceState.Offline;
            slot.State = InstanceState.Restoring; // claimed: a second restore of this name is refused from here
            if (wasOffline)
            {
                return false;
            }
        }
        if (!slot.TryTakeOffline(drain))
        {
            throw new RestoreConflictException($"Instance '{name}' still had requests running after {drain.TotalSeconds:0.#} s; it stays online. Retry when its load is lower.");
        }
        _logger.LogWarning("Instance {Instance} is offline for an in-place restore (session {Session}); its data routes answer 503 meanwhile", name, sessionId);
        return true;
    }

    /// <summary>Opens the restored (or, after an abort before any write, the untouched) instance and serves it.</summary>
    public void Mount(string name, bool remember)
    {
        var slot = Slot(name) ?? throw new InvalidOperationException($"Instance '{name}' has no slot.");
        var inst = StorageInstance.Open(DirectoryOf(name), OptionsOf(name));
        if (remember && !_config.Instances.Any(i => i.Name == name))
        {
            AddRestoredName(name);
        }
        slot.BringOnline(inst);
        _logger.LogInformation("Instance {Instance} is online: {Databases}", name, string.Join(", ", inst.Databases.Select(d => d.Name)));
    }

    /// <summary>A slot for an instance that another part of the server brings online itself (a warm standby):
    /// offline, with <paramref name="reason"/> in its 503s, until then.</summary>
    public InstanceSlot AddSlot(string name, string reason)
    {
        lock (_lock)
        {
            if (!_slots.TryGetValue(name, out var slot))
            {
                slot = new InstanceSlot(name) { Order = ++_order };
                slot.SetOffline(reason);
                _slots[name] = slot;
            }
            return slot;
        }
    }

    /// <summary>Leaves the instance offline with a reason that its 503s give (its restore record says more).</summary>
    public void MarkOffline(string name, string reason)
    {
        var slot = Slot(name);
        if (slot is not null)
        {
            slot.SetOffline(reason);
        }
    }

    /// <summary>Forgets a new instance whose restore wrote nothing.</summary>
    public void Forget(string name)
    {
        lock (_lock)
        {
            _slots.Remove(name);
        }
        var dir = DirectoryOf(name);
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
        {
            Directory.Delete(dir);
        }
    }

    /// <summary>Records a new instance's name as soon as a restore writes into it, so that a restart shows it (offline
    /// until its restore is done).</summary>
    public void AddRestoredName(string name)
    {
        lock (_lock)
        {
            var names = ReadRestoredNames();
            if (names.Contains(name))
            {
                return;
            }
            names.Add(name);
            var path = Path.Combine(DataDirectory, RestoredInstancesFile);
            var temp = path + ".tmp";
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(names.Order(StringComparer.Ordinal).ToList(), HostJson.Default.ListString));
            using (var fs = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite))
            {
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
    }

    private List<string> ReadRestoredNames()
    {
        var path = Path.Combine(DataDirectory, RestoredInstancesFile);
        if (!File.Exists(path))
        {
            return [];
        }
        try
        {
            return (JsonSerializer.Deserialize(File.ReadAllBytes(path), HostJson.Default.ListString) ?? []).Where(Names.IsValid).ToList();
        }
        catch (JsonException ex)
        {
            throw new ServerConfigException($"'{path}' (the instances restored into this server) is not valid JSON: {ex.Message}. Fix or remove it; the instances' directories are untouched.");
        }
    }

    private void Load(InstanceConfig ic, bool create)
    {
        var dir = DirectoryOf(ic.Name);
        var slot = new InstanceSlot(ic.Name) { Order = ++_order };
        _slots[ic.Name] = slot;
        if (RestoreRecord.Read(dir) is { Status: not RestoreStatus.Done } record)
        {
            var why = $"its restore did not finish (status {record.Status}{(record.Error is null ? "" : $": {record.Error}")})";
            slot.SetOffline(why + "; run the restore again");
            _logger.LogWarning("Instance {Instance} stays offline: {Reason}. Run 'blueback restore' again (or 'blueback db recover {Dir}' with the server stopped).", ic.Name, why, dir);
            return;
        }
        if (!create && !File.Exists(Path.Combine(dir, Storage.Recovery.CheckpointFile.FileName)))
        {
            _slots.Remove(ic.Name); // a restored instance whose directory is gone
            _logger.LogWarning("Instance {Instance} was restored into this server but its directory {Dir} holds no instance now; not serving it", ic.Name, dir);
            return;
        }
        StorageInstance? inst = null;
        try
        {
            var o = ic.ToOptions() with { PageRepair = _repair };
            inst = create ? StorageInstance.OpenOrCreate(dir, o) : StorageInstance.Open(dir, o);
            foreach (var dc in ic.Databases)
            {
                if (inst.TryGetDatabase(dc.Name) is null)
                {
                    inst.CreateDatabase(dc.Name, dc.PageSize);
                    _logger.LogInformation("Created database {Database} in instance {Instance}", dc.Name, ic.Name);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or StorageIOException or PageCorruptException or LogCorruptException or InstancePoisonedException or DatabaseStateException)
        {
            // One instance's failing disk or damaged files must not keep the others from serving (the soak's failure
            // drills: a page write failing in an instance's open ended the whole server at start). It stays offline
            // with the reason; a restore over it (--replace) or a start once the cause is fixed brings it back.
            inst?.Dispose();
            slot.SetOffline($"it could not be opened: {ex.Message.TrimEnd('.', ' ')}. Fix the cause and start the server again, or restore the instance over it (blueback restore --replace)");
            _logger.LogError("Instance {Instance} stays offline: it could not be opened from {Dir}: {Error}", ic.Name, dir, ex.Message);
            return;
        }
        slot.BringOnline(inst);
        if (inst.LastRecovery is { WasClean: false } rec)
        {
            _logger.LogWarning("Instance {Instance} was not shut down cleanly: recovery replayed {Transactions} transactions from {From} to {To}", ic.Name, rec.TransactionsReplayed, rec.From, rec.To);
        }
    }

    /// <summary>Closes every online instance cleanly (checkpoint, databases marked clean).</summary>
    public void Dispose()
    {
        List<InstanceSlot> slots;
        lock (_lock)
        {
            slots = [.. _slots.Values];
            _slots.Clear();
        }
        foreach (var s in slots)
        {
            s.Close();
        }
    }
}

/// <summary>A restore refused because of the instance's state or the session limit (409).</summary>
public sealed class RestoreConflictException(string message) : RestoreException(message);

[System.Text.Json.Serialization.JsonSerializable(typeof(List<string>))]
internal sealed partial class HostJson : System.Text.Json.Serialization.JsonSerializerContext;
