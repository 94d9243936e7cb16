using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.Protocol;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Observability;

/// <summary>The alerts as the server keeps them: each with an id from its subject, when it was raised, and who
/// acknowledged it and when; every change (raised, acknowledged, cleared) in a bounded history and sent to the
/// notifications. Looked at every few seconds, and at every GET, so that an alert reaches a webhook with no console
/// open. Kept in DATA/alerts across restarts: an alert still there after a restart is neither raised nor sent again,
/// and keeps its acknowledgement.</summary>
internal sealed class AlertBook : IDisposable
{
    public const int HistoryKept = 2000;
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(5);
    private readonly Func<List<AlertInfo>> _source;
    private readonly IReadOnlyList<AlertNotifier> _notifiers;
    private readonly ILogger _logger;
    private readonly string _statePath;
    private readonly string _historyPath;
    private readonly JsonLinesJournal<AlertEvent> _journal = new(AlertJson.Default.AlertEvent, HistoryKept);
    private readonly Dictionary<string, AlertInfo> _active;
    private readonly Lock _lock = new();
    private readonly Timer? _timer;

    public AlertBook(string dataDirectory, Func<List<AlertInfo>> source, IReadOnlyList<AlertNotifier> notifiers, ILogger logger, bool watch = true)
    {
        _source = source;
        _notifiers = notifiers;
        _logger = logger;
        var dir = Path.Combine(dataDirectory, "alerts");
        _statePath = Path.Combine(dir, "active.json");
        _historyPath = Path.Combine(dir, "history.jsonl");
        _active = LoadActive(_statePath).ToDictionary(a => a.Id, StringComparer.Ordinal);
        _timer = watch ? new Timer(_ => Look(), null, Every, Every) : null;
    }

    /// <summary>An alert's id: the same for as long as its subject is in trouble, whatever its message says meanwhile.</summary>
    public static string IdOf(string subject) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(subject)))[..12];

    /// <summary>The alerts now, most severe first, then the newest.</summary>
    public List<AlertInfo> Current()
    {
        lock (_lock)
        {
            RefreshLocked();
            return _active.Values.OrderBy(a => a.Severity == "critical" ? 0 : 1).ThenByDescending(a => a.Raised).Select(Copy).ToList();
        }
    }

    /// <summary>Records who acknowledged the alert <paramref name="id"/>, and when; null if no such alert is active.</summary>
    public AlertInfo? Acknowledge(string id, string who)
    {
        lock (_lock)
        {
            RefreshLocked();
            if (!_active.TryGetValue(id, out var alert))
            {
                return null;
            }
            alert.AcknowledgedBy = who;
            alert.AcknowledgedAt = DateTime.UtcNow;
            SaveLocked();
            Record("acknowledged", alert);
            return Copy(alert);
        }
    }

    /// <summary>The newest changes first.</summary>
    public List<AlertEvent> History(int limit) => _journal.Newest(_historyPath, limit);

    private void Look()
    {
        try
        {
            lock (_lock)
            {
                RefreshLocked();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Looked at again in a few seconds; a GET shows the same error to its caller.
            _logger.LogWarning("Alerts: {Message}", ex.Message);
        }
    }

    private void RefreshLocked()
    {
        var now = DateTime.UtcNow;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        bool changed = false;
        foreach (var a in _source())
        {
            a.Id = IdOf(a.Subject);
            if (!seen.Add(a.Id))
            {
                continue; // two alerts of one subject: the first (the most severe) stands
            }
            if (_active.TryGetValue(a.Id, out var known))
            {
                known.Severity = a.Severity;
                known.Message = a.Message;
                known.Since = a.Since;
                continue;
            }
            a.Raised = now;
            _active[a.Id] = a;
            changed = true;
            Record("raised", a);
        }
        foreach (var gone in _active.Values.Where(a => !seen.Contains(a.Id)).ToList())
        {
            _active.Remove(gone.Id);
            changed = true;
            Record("cleared", gone);
        }
        if (changed)
        {
            SaveLocked();
        }
    }

    private void Record(string what, AlertInfo alert)
    {
        var e = new AlertEvent { Time = DateTime.UtcNow, Event = what, Alert = Copy(alert), Server = Environment.MachineName };
        try
        {
            _journal.Append(_historyPath, e);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Alerts: the history '{Path}' cannot be written ({Message}); the alert is still shown and sent.", _historyPath, ex.Message);
        }
        foreach (var n in _notifiers)
        {
            n.Enqueue(e);
        }
    }

    private void SaveLocked()
    {
        try
        {
            AtomicFile.Write(_statePath, JsonSerializer.SerializeToUtf8Bytes(_active.Values.ToList(), AlertJson.Default.ListAlertInfo));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Alerts: '{Path}' cannot be written ({Message}); after a restart the active alerts are raised again.", _statePath, ex.Message);
        }
    }

    private static List<AlertInfo> LoadActive(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), AlertJson.Default.ListAlertInfo) ?? [] : [];
        }
        catch (JsonException)
        {
            return []; // a damaged file only means the alerts still there are raised (and sent) once more
        }
    }

    private static AlertInfo Copy(AlertInfo a) => new()
    {
        Id = a.Id, Severity = a.Severity, Subject = a.Subject, Message = a.Message, Since = a.Since, Raised = a.Raised,
        AcknowledgedBy = a.AcknowledgedBy, AcknowledgedAt = a.AcknowledgedAt,
    };

    public void Dispose() => _timer?.Dispose();
}

[JsonSerializable(typeof(AlertEvent))]
[JsonSerializable(typeof(List<AlertInfo>))]
internal sealed partial class AlertJson : JsonSerializerContext;
