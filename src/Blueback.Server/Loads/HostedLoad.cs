using Blueback.Protocol;
using Blueback.Protocol.Wire;
using Blueback.Server.Sessions;

namespace Blueback.Server.Loads;

/// <summary>A load was refused for the state it is in (committed, aborted, being committed): a 409.</summary>
internal sealed class LoadStateException(string message) : Exception(message);

/// <summary>A load's rows or scope are wrong (a row outside the range or the table, a row cut short): a 400.</summary>
internal sealed class LoadRowsException(string message) : Exception(message);

/// <summary>A load would stage more than one transaction of its instance can hold: a 413.</summary>
internal sealed class LoadTooLargeException(string message) : Exception(message);

/// <summary>One staged load: its scope, and its rows in a file on the server's disk (so that memory stays bounded
/// whatever the table's size) until the commit applies them in one transaction. Calls are serialized by a gate;
/// an abort cancels whatever call runs and removes the file.</summary>
internal sealed class HostedLoad : ILeasedSession, IDisposable
{
    private static readonly TimeSpan GateBound = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _abort = new();
    private FileStream? _file;
    private string _state = "staging";
    private string? _error;

    public HostedLoad(string id, string instance, BeginLoadRequest request, string stagingPath, long maxBytes, TimeSpan lease)
    {
        Id = id;
        Instance = instance;
        Request = request;
        StagingPath = stagingPath;
        MaxBytes = maxBytes;
        Lease = new Lease(lease);
        _file = new FileStream(stagingPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
    }

    public string Id { get; }
    public string Instance { get; }
    public BeginLoadRequest Request { get; }
    public string StagingPath { get; }
    public long MaxBytes { get; }
    public Lease Lease { get; }
    public DateTime Started { get; } = DateTime.UtcNow;
    public bool IsFinished => _state is "committed" or "aborted";
    public long Rows { get; private set; }
    public long Bytes { get; private set; }

    public LoadInfo Info() => new()
    {
        Id = Id, Instance = Instance, Database = Request.Database, Table = Request.Table, Mode = Request.Mode,
        Rows = Rows, Bytes = Bytes, MaxBytes = MaxBytes, State = _state, Error = _error,
    };

    /// <summary>Checks every row of <paramref name="body"/> against the load's scope, then appends them all: a post
    /// with one bad row stages nothing.</summary>
    public async Task AppendAsync(ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        await EnterAsync("staging", ct).ConfigureAwait(false);
        try
        {
            var (rows, bytes) = Check(body.Span);
            if (Bytes + bytes > MaxBytes)
            {
                throw new LoadTooLargeException($"Load {Id} into database '{Request.Database}' of instance '{Instance}' would stage {Bytes + bytes:N0} bytes of keys and values; one transaction of the instance holds at most {MaxBytes:N0} (a quarter of its cache). Restore a key range at a time (--from-key/--to-key), or raise the server's cache size.");
            }
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _abort.Token);
            await _file!.WriteAsync(body, linked.Token).ConfigureAwait(false);
            Rows += rows;
            Bytes += bytes;
        }
        finally
        {
            _gate.Release();
        }
    }

    private (long Rows, long Bytes) Check(ReadOnlySpan<byte> body)
    {
        long rows = 0, bytes = 0;
        int at = 0;
        while (at < body.Length)
        {
            bool whole;
            string table;
            ReadOnlySpan<byte> key, value;
            int length;
            try
            {
                whole = RowFrames.TryRead(body[at..], out table, out key, out value, out length);
            }
            catch (InvalidDataException ex)
            {
                throw new LoadRowsException($"Row {Rows + rows}: {ex.Message}");
            }
            if (!whole)
            {
                throw new LoadRowsException($"The body ends inside row {Rows + rows} (at byte {at:N0} of {body.Length:N0}): send whole rows ([u16 table length][table][u16 key length][key][u32 value length][value]).");
            }
            if (table.Length == 0 || (Request.Table is { } only && table != only))
            {
                throw new LoadRowsException($"Row {Rows + rows} names table '{table}', but load {Id} writes {(Request.Table is null ? "rows of named tables" : $"table '{Request.Table}'")} only.");
            }
            if (key.Length is 0 or > Routes.Limits.MaxKeyBytes)
            {
                throw new LoadRowsException($"Row {Rows + rows}: the key is {key.Length} bytes; keys are 1 to {Routes.Limits.MaxKeyBytes} bytes.");
            }
            if ((Request.From is { } from && key.SequenceCompareTo(from) < 0) || (Request.To is { } to && key.SequenceCompareTo(to) >= 0))
            {
                throw new LoadRowsException($"Row {Rows + rows}: its key lies outside the load's range [from, to); a range restore sends only the keys of its range.");
            }
            rows++;
            bytes += key.Length + value.Length;
            at += length;
        }
        return (rows, bytes);
    }

    /// <summary>Takes the gate for a call that needs the load in <paramref name="state"/>.</summary>
    private async Task EnterAsync(string state, CancellationToken ct)
    {
        if (!await _gate.WaitAsync(GateBound, ct).ConfigureAwait(false))
        {
            throw new LoadStateException($"Load {Id} is busy with another call (its commit, or another post of rows); send one call at a time.");
        }
        if (_state != state)
        {
            _gate.Release();
            throw new LoadStateException($"Load {Id} is {_state}{(_error is null ? "" : $" ({_error})")}; {(state == "staging" ? "rows can only be added before its commit" : "it can be committed once")}. Begin a new load.");
        }
    }

    /// <summary>Reads back the staged rows, for the commit, which holds the gate (<see cref="BeginCommitAsync"/>).</summary>
    public IEnumerable<(string Table, byte[] Key, byte[] Value)> StagedRows()
    {
        var file = _file!;
        file.Position = 0;
        var buffer = new byte[1 << 20];
        int filled = 0;
        while (true)
        {
            int read = file.Read(buffer, filled, buffer.Length - filled);
            filled += read;
            int at = 0;
            while (RowFrames.TryRead(buffer.AsSpan(at, filled - at), out var table, out var key, out var value, out int length))
            {
                yield return (table, key.ToArray(), value.ToArray());
                at += length;
            }
            if (read == 0)
            {
                if (at != filled)
                {
                    throw new IOException($"The staging file '{StagingPath}' of load {Id} ends inside a row: it was damaged on disk. Begin the load again.");
                }
                yield break;
            }
            Buffer.BlockCopy(buffer, at, buffer, 0, filled - at);
            filled -= at;
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2); // a row larger than the buffer (a value of up to 16 MiB)
            }
        }
    }

    /// <summary>Starts the commit: holds the gate until <see cref="EndCommit"/>, and gives the token that an abort fires.</summary>
    public async Task<CancellationToken> BeginCommitAsync(CancellationToken ct)
    {
        await EnterAsync("staging", ct).ConfigureAwait(false);
        _state = "committing";
        await _file!.FlushAsync(ct).ConfigureAwait(false);
        return _abort.Token;
    }

    /// <summary>Ends the commit: committed, or aborted with <paramref name="error"/>; the staged rows go either way.</summary>
    public void EndCommit(string? error)
    {
        _state = error is null ? "committed" : "aborted";
        _error = error;
        DropFile();
        _gate.Release();
    }

    /// <summary>Aborts the load: a call in progress is cancelled; the staged rows are removed (bounded wait for it).</summary>
    public void Abort(string why)
    {
        if (IsFinished)
        {
            return;
        }
        _error ??= why;
        _abort.Cancel();
        if (_gate.Wait(GateBound))
        {
            if (!IsFinished)
            {
                _state = "aborted";
                DropFile();
            }
            _gate.Release();
        }
        // Otherwise the call in progress sees the cancellation and ends the load itself.
    }

    private void DropFile()
    {
        _file?.Dispose();
        _file = null;
        File.Delete(StagingPath);
    }

    public void Dispose()
    {
        Abort("the server is shutting down");
        _abort.Dispose();
    }
}
