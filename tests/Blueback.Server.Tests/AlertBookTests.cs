using Blueback.Protocol;
using Blueback.Server.Observability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blueback.Server.Tests;

/// <summary>Alerts acknowledged (who and when) and kept in a history across restarts (issue 34: they could not be
/// acknowledged, and went when their cause did, leaving no trace).</summary>
public class AlertBookTests
{
    private static AlertInfo Failing(string message = "3 full backup(s) failed in a row") =>
        new() { Severity = "critical", Subject = "policy nightly", Message = message };

    [Fact]
    public void An_alert_is_raised_once_acknowledged_by_name_and_cleared_in_the_history()
    {
        using var dir = new TempDir();
        var now = new List<AlertInfo> { Failing() };
        using var book = new AlertBook(dir.Path, () => now.Select(a => new AlertInfo { Severity = a.Severity, Subject = a.Subject, Message = a.Message }).ToList(), [], NullLogger.Instance, watch: false);

        var first = Assert.Single(book.Current());
        Assert.Equal(AlertBook.IdOf("policy nightly"), first.Id);
        Assert.NotNull(first.Raised);
        Assert.Null(first.AcknowledgedBy);
        // A new message for the same subject is the same alert, not a new one.
        now[0] = Failing("4 full backup(s) failed in a row");
        Assert.Equal(first.Raised, Assert.Single(book.Current()).Raised);

        Assert.Null(book.Acknowledge("000000000000", "ops (t1)"));
        var acked = book.Acknowledge(first.Id, "ops (t1)")!;
        Assert.Equal("ops (t1)", acked.AcknowledgedBy);
        Assert.NotNull(acked.AcknowledgedAt);
        Assert.Equal("ops (t1)", Assert.Single(book.Current()).AcknowledgedBy);

        now.Clear();
        Assert.Empty(book.Current());
        var history = book.History(10);
        Assert.Equal(["cleared", "acknowledged", "raised"], history.Select(e => e.Event));
        Assert.Equal("ops (t1)", history[1].Alert.AcknowledgedBy);
        Assert.Equal("4 full backup(s) failed in a row", history[0].Alert.Message);
    }

    [Fact]
    public void After_a_restart_an_alert_still_there_keeps_its_acknowledgement_and_is_not_raised_again()
    {
        using var dir = new TempDir();
        string id;
        using (var book = new AlertBook(dir.Path, () => [Failing()], [], NullLogger.Instance, watch: false))
        {
            id = Assert.Single(book.Current()).Id;
            book.Acknowledge(id, "ops (t1)");
        }
        using var again = new AlertBook(dir.Path, () => [Failing()], [], NullLogger.Instance, watch: false);
        var alert = Assert.Single(again.Current());
        Assert.Equal("ops (t1)", alert.AcknowledgedBy);
        Assert.Equal(["acknowledged", "raised"], again.History(10).Select(e => e.Event));
    }

    [Fact]
    public void The_history_is_bounded()
    {
        using var dir = new TempDir();
        var journal = new JsonLinesJournal<AlertEvent>(AlertJson.Default.AlertEvent, 100);
        var path = dir["history.jsonl"];
        for (int i = 0; i < 1000; i++)
        {
            journal.Append(path, new AlertEvent { Event = "raised", Alert = new AlertInfo { Subject = $"s{i}", Message = new string('x', 200) } });
        }
        // 100 records or 100 KiB, whichever is more; never fewer than 50 records.
        Assert.InRange(File.ReadAllLines(path).Length, 50, 1000);
        Assert.InRange(new FileInfo(path).Length, 0, (100 * 1024) + 400);
        Assert.Equal("s999", journal.Newest(path, 1)[0].Alert.Subject);
    }
}
