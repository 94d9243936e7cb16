namespace Blueback.Server.Sessions;

/// <summary>A session's lease: every call of its client renews it; it expires when the client has been quiet for
/// its whole length (the client crashed, or the network went away), and the session is then aborted.</summary>
public sealed class Lease(TimeSpan length)
{
    private long _expiresTicks = DateTime.UtcNow.Add(length).Ticks;

    public TimeSpan Length { get; } = length;

    public bool Expired => DateTime.UtcNow.Ticks > Interlocked.Read(ref _expiresTicks);

    public void Renew() => Interlocked.Exchange(ref _expiresTicks, DateTime.UtcNow.Add(Length).Ticks);
}

/// <summary>What <see cref="LeasedSessions{T}"/> keeps: a backup or a restore the server runs for a client.</summary>
public interface ILeasedSession
{
    string Id { get; }
    Lease Lease { get; }
    DateTime Started { get; }
    bool IsFinished { get; }
}
