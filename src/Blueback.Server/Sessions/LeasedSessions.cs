namespace Blueback.Server.Sessions;

/// <summary>The server's sessions of one kind (backups, restores): found by id (a call renews the lease), a limit
/// on how many run at once, finished ones kept for a while so that late calls get a clear answer, and a reaper that
/// aborts a session whose lease expired. Disposing aborts every running one (server shutdown) and stops the
/// reaper within a bound. How a session is aborted is its owner's (<paramref name="abort"/>).</summary>
public sealed class LeasedSessions<T> : IDisposable where T : class, ILeasedSession
{
    private const int FinishedKept = 100;
    private const int AbortedUnbegunKept = 1_000;
    private static readonly TimeSpan ReapEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReaperStopBound = TimeSpan.FromSeconds(2);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, T> _sessions = new(StringComparer.Ordinal);
    // Ids a client aborted before any session had them: the begin may still be on its way to the server (the
    // client gave up waiting for its answer), and must not then make a session nobody will end.
    private readonly HashSet<string> _abortedUnbegun = new(StringComparer.Ordinal);
    private readonly Queue<string> _abortedUnbegunOrder = new();
    private readonly string _kind;
    private readonly string _limitSetting;
    private readonly Func<string, Exception> _refuse;
    private readonly Action<T, string> _abort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reaper;
    private int _disposed;

    /// <param name="kind">"backup" or "restore", for messages.</param>
    /// <param name="limitSetting">The config setting that raises the limit, for the refusal's message.</param>
    /// <param name="refuse">Makes the exception (a 409 to the client) for a duplicate id or a full house.</param>
    /// <param name="abort">Aborts one session: called by the reaper and at shutdown.</param>
    public LeasedSessions(string kind, string limitSetting, int maxRunning, Func<string, Exception> refuse, Action<T, string> abort)
    {
        _kind = kind;
        _limitSetting = limitSetting;
        MaxRunning = maxRunning;
        _refuse = refuse;
        _abort = abort;
        _reaper = Task.Run(ReapAsync);
    }

    public int MaxRunning { get; }

    /// <summary>Throws unless a new session may begin: its id (if the client chose one) is new, and fewer than
    /// <see cref="MaxRunning"/> run. Made before the session's own work begins, which may take a while.</summary>
    public void CheckRoom(string? id)
    {
        lock (_lock)
        {
            CheckRoomLocked(id);
        }
    }

    /// <summary>Adds a session that began; a duplicate id that slipped in meanwhile is refused (the caller aborts
    /// what it made).</summary>
    public T Add(T session)
    {
        lock (_lock)
        {
            if (_sessions.ContainsKey(session.Id))
            {
                throw Duplicate(session.Id);
            }
            if (_abortedUnbegun.Contains(session.Id))
            {
                throw AbortedBeforeBegin(session.Id);
            }
            _sessions[session.Id] = session;
            Prune();
        }
        return session;
    }

    /// <summary>An abort of <paramref name="id"/>: its session if there is one, else the id is kept so that a begin
    /// with it is refused from now on (only ids a client may choose, 32 lowercase hex digits, the newest 1,000;
    /// <paramref name="newlyKept"/> says whether it was kept now). One step under the lock: as a look-up and then a
    /// mark, a begin that registered between the two was neither found nor refused, and its cancelled client's abort
    /// was lost (the session lived out its lease; seen under load in the cancellation tests).</summary>
    public T? FindForAbort(string id, out bool newlyKept)
    {
        newlyKept = false;
        bool keepable = id.Length == 32 && id.All(char.IsAsciiHexDigitLower);
        lock (_lock)
        {
            if (_sessions.GetValueOrDefault(id) is { } session)
            {
                return session;
            }
            if (!keepable || !_abortedUnbegun.Add(id))
            {
                return null;
            }
            _abortedUnbegunOrder.Enqueue(id);
            if (_abortedUnbegunOrder.Count > AbortedUnbegunKept)
            {
                _abortedUnbegun.Remove(_abortedUnbegunOrder.Dequeue());
            }
            newlyKept = true;
            return null;
        }
    }

    /// <summary>A session by id, its lease renewed if it is running; finished ones are kept a while.</summary>
    public T? Find(string id)
    {
        lock (_lock)
        {
            var s = _sessions.GetValueOrDefault(id);
            if (s is { IsFinished: false })
            {
                s.Lease.Renew();
            }
            return s;
        }
    }

    public List<T> Running()
    {
        lock (_lock)
        {
            return _sessions.Values.Where(s => !s.IsFinished).ToList();
        }
    }

    private void CheckRoomLocked(string? id)
    {
        if (id is not null && _sessions.ContainsKey(id))
        {
            throw Duplicate(id);
        }
        if (id is not null && _abortedUnbegun.Contains(id))
        {
            throw AbortedBeforeBegin(id);
        }
        if (_sessions.Values.Count(s => !s.IsFinished) >= MaxRunning)
        {
            throw _refuse($"{MaxRunning} {_kind} sessions are running already (the server's limit, {_limitSetting}); retry when one has ended.");
        }
    }

    private Exception AbortedBeforeBegin(string id) => _refuse($"The {_kind} session {id} was aborted by its client before it began; begin a new one.");

    private Exception Duplicate(string id) => _refuse($"A {_kind} session with id {id} already exists; choose a new id.");

    private void Prune()
    {
        var finished = _sessions.Values.Where(s => s.IsFinished).OrderBy(s => s.Started).ToList();
        foreach (var old in finished.Take(finished.Count - FinishedKept))
        {
            _sessions.Remove(old.Id);
        }
    }

    private async Task ReapAsync()
    {
        using var timer = new PeriodicTimer(ReapEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                foreach (var s in Running().Where(s => s.Lease.Expired))
                {
                    _abort(s, $"no call from the client for {s.Lease.Length.TotalSeconds:0.#} s (lease expired)");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Aborts every running session (server shutdown), then stops the reaper, waiting for it at most 2 s.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        foreach (var s in Running())
        {
            _abort(s, "the server is shutting down");
        }
        _stop.Cancel();
        Task.WaitAny([_reaper], ReaperStopBound);
        _stop.Dispose();
    }
}
