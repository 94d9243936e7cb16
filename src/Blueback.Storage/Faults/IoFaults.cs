namespace Blueback.Storage;

/// <summary>The I/O an instance does that faults can be injected into.</summary>
public enum IoOperation
{
    LogWrite,
    LogFlush,
    LogCreate,
    DatabaseRead,
    DatabaseWrite,

    /// <summary>A backup's read of database pages around the page cache (O_DIRECT): where a file system takes the
    /// flag at open and refuses it at read time (EINVAL, seen on FUSE), or returns what the cache does not hold.</summary>
    DatabaseDirectRead,
}

/// <summary>Faults injected into one instance's I/O (<see cref="InstanceOptions.Faults"/>): for tests and failure
/// drills, never a global switch. Each rule fails (with an <see cref="IOException"/>, as the disk would) or delays
/// the next calls of one kind of operation; a seeded rule fails calls at random.</summary>
public sealed class IoFaults
{
    private readonly Lock _lock = new();
    private readonly List<Rule> _rules = [];
    private readonly Dictionary<IoOperation, int> _injected = [];

    private sealed class Rule
    {
        public IoOperation Operation { get; init; }
        public int Skip { get; set; }
        public int Remaining { get; set; }
        public TimeSpan? Delay { get; init; }
        public string Message { get; init; } = "";
        public bool Garble { get; init; }
    }

    /// <summary>Flips a byte in every 4 KiB of the data of <paramref name="count"/> calls of <paramref name="operation"/>
    /// that return data (a read path that returns wrong content wherever it reads), after letting <paramref name="after"/> pass.</summary>
    public IoFaults Garble(IoOperation operation, int count = 1, int after = 0)
    {
        lock (_lock)
        {
            _rules.Add(new Rule { Operation = operation, Skip = after, Remaining = count, Garble = true });
        }
        return this;
    }

    /// <summary>Called after an operation that read <paramref name="data"/>: garbles it when a rule says so.</summary>
    internal void After(IoOperation operation, Span<byte> data)
    {
        lock (_lock)
        {
            if (data.IsEmpty || _rules.FirstOrDefault(r => r.Operation == operation && r.Garble && r.Remaining > 0) is not { } rule)
            {
                return;
            }
            if (rule.Skip > 0)
            {
                rule.Skip--;
                return;
            }
            rule.Remaining--;
            _injected[operation] = _injected.GetValueOrDefault(operation) + 1;
        }
        for (int at = Math.Min(2048, data.Length - 1); at < data.Length; at += 4096)
        {
            data[at] ^= 0x5a;
        }
    }

    /// <summary>Fails <paramref name="count"/> calls of <paramref name="operation"/>, after letting <paramref name="after"/> pass.</summary>
    public IoFaults Fail(IoOperation operation, int count = 1, int after = 0, string message = "injected I/O error")
    {
        lock (_lock)
        {
            _rules.Add(new Rule { Operation = operation, Skip = after, Remaining = count, Message = message });
        }
        return this;
    }

    /// <summary>Delays <paramref name="count"/> calls of <paramref name="operation"/> by <paramref name="delay"/>, after letting <paramref name="after"/> pass.</summary>
    public IoFaults Delay(IoOperation operation, TimeSpan delay, int count = 1, int after = 0)
    {
        lock (_lock)
        {
            _rules.Add(new Rule { Operation = operation, Skip = after, Remaining = count, Delay = delay });
        }
        return this;
    }

    /// <summary>Removes every rule (the disk is healthy again).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _rules.Clear();
        }
    }

    /// <summary>How many faults were injected into <paramref name="operation"/> so far.</summary>
    public int Injected(IoOperation operation)
    {
        lock (_lock)
        {
            return _injected.GetValueOrDefault(operation);
        }
    }

    /// <summary>Called before each operation: throws or sleeps when a rule says so.</summary>
    internal void Before(IoOperation operation, string path)
    {
        TimeSpan? delay = null;
        string? fail = null;
        lock (_lock)
        {
            foreach (var r in _rules.Where(r => r.Operation == operation && r.Remaining > 0 && !r.Garble))
            {
                if (r.Skip > 0)
                {
                    r.Skip--;
                    continue;
                }
                r.Remaining--;
                _injected[operation] = _injected.GetValueOrDefault(operation) + 1;
                if (r.Delay is { } d)
                {
                    delay = d;
                }
                else
                {
                    fail = r.Message;
                }
                break;
            }
            _rules.RemoveAll(r => r.Remaining <= 0);
        }
        if (delay is { } wait)
        {
            Thread.Sleep(wait);
        }
        if (fail is not null)
        {
            throw new IOException($"{operation} of '{path}' failed: {fail}");
        }
    }
}
