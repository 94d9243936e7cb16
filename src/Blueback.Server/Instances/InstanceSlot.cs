using Blueback.Storage;

namespace Blueback.Server.Instances;

public enum InstanceState
{
    Online,
    /// <summary>A restore session owns the instance's directory.</summary>
    Restoring,
    /// <summary>A restore did not finish: the directory holds what it left and a restore record saying so.</summary>
    Offline,
}

/// <summary>One named instance of the server and the gate its requests pass: a request enters only while the
/// instance is online, and taking it offline waits (bounded) for those inside to leave before it is closed.</summary>
public sealed class InstanceSlot(string name)
{
    private int _inside;
    private volatile StorageInstance? _instance;
    private volatile InstanceState _state = InstanceState.Offline;

    public string Name { get; } = name;
    public InstanceState State { get => _state; set => _state = value; }
    public StorageInstance? Instance => _state == InstanceState.Online ? _instance : null;
    public string? RestoreSession { get; set; }

    /// <summary>What a standby's apply puts in <see cref="RestoreSession"/> while it holds the slot.</summary>
    internal const string StandbyApplyPrefix = "standby-apply: ";
    /// <summary>True while a standby's apply of shipped generations holds the slot: a write waiting for it would be
    /// refused anyway (the instance comes back a read-only standby), unlike one waiting for a promotion or a restore.</summary>
    internal bool ApplyingStandby => _state == InstanceState.Restoring && RestoreSession is { } s && s.StartsWith(StandbyApplyPrefix + "generations", StringComparison.Ordinal);
    /// <summary>Where the slot lists among the server's instances.</summary>
    internal long Order { get; init; }
    public string? OfflineReason { get; private set; }

    /// <summary>Lets a request in, or says why not. Every successful enter is paired with <see cref="Leave"/>.</summary>
    public bool TryEnter(out StorageInstance instance)
    {
        Interlocked.Increment(ref _inside); // a full fence: the state read below cannot move before it
        var inst = _instance;
        if (_state == InstanceState.Online && inst is not null)
        {
            instance = inst;
            return true;
        }
        Interlocked.Decrement(ref _inside);
        instance = null!;
        return false;
    }

    public void Leave() => Interlocked.Decrement(ref _inside);

    /// <summary>Why requests are refused, for the 503.</summary>
    public string Unavailable => _state switch
    {
        InstanceState.Restoring when RestoreSession is { } s && s.StartsWith(StandbyApplyPrefix, StringComparison.Ordinal) => $"Instance '{Name}' is a warm standby applying the primary's next log generations ({s[StandbyApplyPrefix.Length..]}); it answers again in a moment. Retry.",
        InstanceState.Restoring => $"Instance '{Name}' is being restored (session {RestoreSession}); it comes back online when the restore ends. Retry then.",
        _ => $"Instance '{Name}' is offline: {OfflineReason ?? "it is not open"}.",
    };

    /// <summary>Stops new requests, waits up to <paramref name="drain"/> for those inside, then closes the instance.
    /// False (and online again) when requests are still inside at the bound.</summary>
    internal bool TryTakeOffline(TimeSpan drain, string? why = null)
    {
        RestoreSession = why ?? RestoreSession;
        _state = InstanceState.Restoring;
        Interlocked.MemoryBarrier(); // pairs with the increment in TryEnter
        var until = DateTime.UtcNow + drain;
        while (Volatile.Read(ref _inside) > 0)
        {
            if (DateTime.UtcNow > until)
            {
                _state = InstanceState.Online;
                RestoreSession = null;
                return false;
            }
            Thread.Sleep(5);
        }
        var inst = _instance;
        _instance = null;
        inst?.Dispose();
        return true;
    }

    internal void BringOnline(StorageInstance instance)
    {
        _instance = instance;
        OfflineReason = null;
        RestoreSession = null;
        _state = InstanceState.Online;
    }

    internal void SetOffline(string reason)
    {
        OfflineReason = reason;
        RestoreSession = null;
        _state = InstanceState.Offline;
    }

    internal void Close()
    {
        _state = InstanceState.Offline;
        var inst = _instance;
        _instance = null;
        inst?.Dispose();
    }
}
