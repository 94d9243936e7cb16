using Blueback.Protocol;
using Blueback.Server.Sessions;
using Blueback.Storage.Restore;

namespace Blueback.Server.Restores;

public enum RestoreSessionState
{
    Receiving,
    Recovering,
    Done,
    Failed,
    Aborted,
}

/// <summary>One running restore as the server hosts it for a client: the record it writes, its writer (opened by the
/// first file, so an abort before any write leaves the instance untouched), its recovery task, and a lease that
/// every call renews (the client library's counterpart is <c>Blueback.Client.RestoreSession</c>).</summary>
public sealed class HostedRestore : ILeasedSession
{
    private long _bytes;
    private int _files;

    internal HostedRestore(string id, string instance, bool replace, bool wasOnline, RestoreRecord record, TimeSpan lease)
    {
        Id = id;
        Instance = instance;
        Replace = replace;
        WasOnline = wasOnline;
        Record = record;
        Lease = new Lease(lease);
    }

    public string Id { get; }
    public string Instance { get; }
    public bool Replace { get; }
    /// <summary>The instance was online when the restore took it: an abort before any write opens it again.</summary>
    public bool WasOnline { get; }
    public RestoreRecord Record { get; }
    public Lease Lease { get; }
    public DateTime Started { get; } = DateTime.UtcNow;
    public RestoreSessionState State { get; internal set; }
    public string? Phase { get; internal set; }
    public string? Error { get; internal set; }
    public HardRecoveryReport? Report { get; internal set; }
    public bool IsFinished => State is RestoreSessionState.Done or RestoreSessionState.Failed or RestoreSessionState.Aborted;

    internal Lock Sync { get; } = new();
    /// <summary>One upload at a time: the writer keeps the record in order.</summary>
    internal SemaphoreSlim WriteGate { get; } = new(1, 1);
    internal CancellationTokenSource Stop { get; } = new();
    internal RestoreWriter? Writer { get; set; }
    internal Task? Recovery { get; set; }

    internal void Wrote(long bytes)
    {
        Interlocked.Add(ref _bytes, bytes);
        Lease.Renew();
    }

    internal void FileDone() => Interlocked.Increment(ref _files);

    public RestoreSessionInfo Info() => new()
    {
        Id = Id,
        Instance = Instance,
        Mode = Replace ? "replace" : "new",
        State = State.ToString().ToLowerInvariant(),
        Started = Started,
        LeaseSeconds = Lease.Length.TotalSeconds,
        FilesWritten = Volatile.Read(ref _files),
        BytesWritten = Interlocked.Read(ref _bytes),
        Phase = Phase,
        Error = Error,
        Result = Report is not { } r ? null : new RestoreResultInfo
        {
            From = r.From.ToString(),
            End = r.End.ToString(),
            TransactionsReplayed = r.TransactionsReplayed,
            PagesApplied = r.PagesApplied,
            StopReached = r.StopReached,
            EndReason = r.EndReason,
            LastCommitTime = r.LastCommitTime,
            SetAside = r.SetAside,
        },
        UploadEncodings = [Routes.ChunkFramesEncoding],
    };
}
