using System.Globalization;
using System.Text;

namespace Blueback.Soak;

/// <summary>What the soak counted, the violations it found, and the exit times after each signal.</summary>
internal sealed class Tally
{
    private readonly Dictionary<string, List<double>> _exitTimes = new(StringComparer.Ordinal);

    public int Rounds { get; set; }
    public int Commands { get; set; }
    public int Cancels { get; set; }
    public int LibraryCancels { get; set; }
    public int Kills { get; set; }
    public int ServerStops { get; set; }
    public int FuzzRequests { get; set; }
    public int RestoresChecked { get; set; }
    public int ProofsChecked { get; set; }
    public int ShipRounds { get; set; }
    public int OnlineRestoresChecked { get; set; }
    public int FullVolumes { get; set; }
    public int IoFaultRounds { get; set; }
    public int IoFaultsReached { get; set; }
    public int Hangs { get; set; }
    public int BadSets { get; set; }
    public int Refused { get; private set; }
    private readonly Dictionary<string, int> _refusals = new(StringComparer.Ordinal);

    /// <summary>An exit 2 without a signal: counted, and its message kept (the first 160 characters).</summary>
    public void Refusal(string command, string message)
    {
        Refused++;
        var key = $"{command}: {(message.Length > 160 ? message[..160] : message)}";
        _refusals[key] = _refusals.GetValueOrDefault(key) + 1;
    }
    public List<string> Violations { get; } = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, long> _fuzzAnswers = new();

    /// <summary>One fuzz request's answer (from the fuzz clients at once).</summary>
    public void FuzzAnswer(int status) => _fuzzAnswers.AddOrUpdate(status, 1, (_, n) => n + 1);

    public void Violation(string what)
    {
        Violations.Add(what);
        Console.WriteLine($"  VIOLATION: {what}");
    }

    public void ExitTime(string what, double ms)
    {
        if (!_exitTimes.TryGetValue(what, out var list))
        {
            _exitTimes[what] = list = [];
        }
        list.Add(ms);
    }

    public string Summary(Writers writers) => string.Create(CultureInfo.InvariantCulture,
        $"{Rounds} rounds, {Commands} commands, {Cancels} + {LibraryCancels} cancels (programs + library), {Kills + ServerStops} kills and stops, {FuzzRequests} fuzz requests, {RestoresChecked} + {OnlineRestoresChecked} restores checked, {ProofsChecked} proofs, {writers.Total:N0} commits acknowledged, {Violations.Count} violations");

    public string Report(Writers writers, int seed, TimeSpan duration)
    {
        var b = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        b.AppendLine(string.Create(ci, $"## soak seed {seed}, {duration.TotalMinutes:0} min: {Summary(writers)}"));
        b.AppendLine("| count | value |");
        b.AppendLine("|---|---:|");
        foreach (var (name, value) in new (string, long)[]
        {
            ("random cancels of programs (^C, SIGTERM) that landed", Cancels), ("random cancels through the client library that landed", LibraryCancels), ("kills of programs that landed", Kills), ("server SIGKILL/SIGTERM", ServerStops),
            ("fuzz requests", FuzzRequests), ("restores checked offline", RestoresChecked), ("online restores checked (sampled)", OnlineRestoresChecked), ("proofs passed", ProofsChecked), ("shipper runs stopped", ShipRounds), ("backups into a full volume", FullVolumes), ("failure drills run (server restarted with injected I/O faults)", IoFaultRounds), ("injected faults reached (an instance stopped, or a backup failed on a page read)", IoFaultsReached), ("acknowledged commits", writers.Total),
            ("hangs", Hangs), ("bad sets", BadSets), ("refusals (exit 2 without a signal)", Refused), ("violations (commits lost, wrong exits, 5xx, ...)", Violations.Count),
        })
        {
            b.AppendLine(string.Create(ci, $"| {name} | {value:N0} |"));
        }
        if (!_fuzzAnswers.IsEmpty)
        {
            b.AppendLine(string.Create(ci, $"Fuzz answers: {string.Join(", ", _fuzzAnswers.OrderBy(kv => kv.Key).Select(kv => string.Create(ci, $"{kv.Key} × {kv.Value:N0}")))}"));
        }
        b.AppendLine("| exit after | n | p50 ms | p99 ms | max ms |");
        b.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var (what, list) in _exitTimes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            list.Sort();
            b.AppendLine(string.Create(ci, $"| {what} | {list.Count} | {P(list, 0.5):0} | {P(list, 0.99):0} | {list[^1]:0} |"));
        }
        foreach (var (what, n) in _refusals.OrderByDescending(kv => kv.Value))
        {
            b.AppendLine(string.Create(ci, $"- refused {n} time(s): {what}"));
        }
        foreach (var v in Violations.Take(50))
        {
            b.AppendLine($"- {v}");
        }
        return b.ToString();
    }

    /// <summary>The q quantile of a sorted list (NaN when it is empty).</summary>
    public static double P(List<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * q))];
}
