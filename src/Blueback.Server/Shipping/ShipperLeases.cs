namespace Blueback.Server.Shipping;

/// <summary>Which shipper ships each instance now: one at a time. A shipper renews its lease with every call; one
/// not heard from for the lease's length loses it, and another may take the instance up (the mark on disk, which
/// pins the unshipped logs, stays whoever holds the lease).</summary>
internal sealed class ShipperLeases(TimeSpan lease)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (string Shipper, DateTime LastSeen)> _held = new(StringComparer.Ordinal);

    public TimeSpan Length => lease;

    /// <summary>Takes (or renews) the instance for <paramref name="shipper"/>; null, or the message that names the
    /// shipper holding it.</summary>
    public string? TryTake(string instance, string shipper)
    {
        lock (_lock)
        {
            if (HeldByOtherLocked(instance, shipper) is { } held)
            {
                return held;
            }
            _held[instance] = (shipper, DateTime.UtcNow);
            return null;
        }
    }

    /// <summary>The message naming the live shipper other than <paramref name="shipper"/> that holds the instance, or null.</summary>
    public string? HeldByOther(string instance, string shipper)
    {
        lock (_lock)
        {
            return HeldByOtherLocked(instance, shipper);
        }
    }

    private string? HeldByOtherLocked(string instance, string shipper)
    {
        var now = DateTime.UtcNow;
        if (_held.TryGetValue(instance, out var h) && h.Shipper != shipper && now - h.LastSeen < lease)
        {
            var left = lease - (now - h.LastSeen);
            return $"Instance '{instance}' is already being shipped by shipper {h.Shipper} (last heard from {(now - h.LastSeen).TotalSeconds:0.0} s ago). Two shippers on one instance would race; stop the other 'blueback ship' first (if it was killed, its lease ends in {left.TotalSeconds:0.0} s).";
        }
        return null;
    }

    /// <summary>Renews the lease of the shipper that holds it; false when another holds it (or nobody).</summary>
    public bool Renew(string instance, string shipper)
    {
        lock (_lock)
        {
            if (_held.TryGetValue(instance, out var h) && h.Shipper == shipper)
            {
                _held[instance] = (shipper, DateTime.UtcNow);
                return true;
            }
            return false;
        }
    }

    public void Release(string instance, string shipper)
    {
        lock (_lock)
        {
            if (_held.TryGetValue(instance, out var h) && h.Shipper == shipper)
            {
                _held.Remove(instance);
            }
        }
    }

    public void Forget(string instance)
    {
        lock (_lock)
        {
            _held.Remove(instance);
        }
    }

    /// <summary>Whether a shipper holds the instance now, and when one was last heard from.</summary>
    public (bool Connected, DateTime? LastSeen) Of(string instance)
    {
        lock (_lock)
        {
            return _held.TryGetValue(instance, out var h) ? (DateTime.UtcNow - h.LastSeen < lease, h.LastSeen) : (false, null);
        }
    }
}
