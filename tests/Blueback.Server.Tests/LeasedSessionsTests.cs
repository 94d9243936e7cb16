using Blueback.Server.Sessions;

namespace Blueback.Server.Tests;

/// <summary>A client's abort against a begin of the same id at the same moment: the abort finds the session, or
/// the begin is refused; never neither (the lost abort left a cancelled backup to its 60-s lease).</summary>
public class LeasedSessionsTests
{
    private sealed class Session(string id) : ILeasedSession
    {
        public string Id { get; } = id;
        public Lease Lease { get; } = new(TimeSpan.FromMinutes(1));
        public DateTime Started { get; } = DateTime.UtcNow;
        public bool IsFinished { get; set; }
    }

    private static LeasedSessions<Session> NewSessions() =>
        new("backup", "maxBackups", 8, message => new InvalidOperationException(message), (s, _) => s.IsFinished = true);

    [Fact(Timeout = 120_000)]
    public async Task An_abort_racing_a_begin_of_its_id_either_finds_the_session_or_the_begin_is_refused()
    {
        using var sessions = NewSessions();
        for (int round = 0; round < 20_000; round++)
        {
            var id = Guid.NewGuid().ToString("N");
            using var start = new Barrier(2);
            var begin = Task.Run(() =>
            {
                start.SignalAndWait();
                try
                {
                    return sessions.Add(new Session(id));
                }
                catch (InvalidOperationException)
                {
                    return null; // refused: aborted before it began
                }
            });
            var abort = Task.Run(() =>
            {
                start.SignalAndWait();
                return sessions.FindForAbort(id, out _);
            });
            var (begun, found) = (await begin.WaitAsync(TimeSpan.FromSeconds(30)), await abort.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(begun is null || found is not null, $"round {round}: the session began and the abort did not find it");
            begun?.IsFinished = true;
        }
    }

    [Fact]
    public void An_abort_before_the_begin_keeps_the_id_once_and_the_begin_is_refused()
    {
        using var sessions = NewSessions();
        var id = Guid.NewGuid().ToString("N");
        Assert.Null(sessions.FindForAbort(id, out bool kept));
        Assert.True(kept);
        Assert.Null(sessions.FindForAbort(id, out kept));
        Assert.False(kept); // said once, not at every repeat of the abort
        var refused = Assert.Throws<InvalidOperationException>(() => sessions.Add(new Session(id)));
        Assert.Contains("aborted by its client before it began", refused.Message, StringComparison.Ordinal);
        Assert.Null(sessions.FindForAbort("not-an-id-a-client-chooses", out kept));
        Assert.False(kept);
    }
}
