using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Blueback.Storage;

namespace Blueback.Soak;

/// <summary>The soak's rounds; each checks what it did and tells the tally.</summary>
internal sealed partial class Rounds(SoakServer server, Writers writers, string repo, string root, Random rng, Tally tally, int lanes = 1)
{
    private static readonly TimeSpan CommandBound = TimeSpan.FromMinutes(5);
    // Longer than any stop bound (3 s) with room: a program that exits 0 this long after a signal did not stop.
    private const double IgnoredStopMs = 4000;
    // The writers' acknowledged counts just before each set's backup began: what its restore must hold at least.
    private readonly Dictionary<string, long[]> _known = new(StringComparer.Ordinal);
    // The tally is told from several lanes at once in the bursts and the restore rounds.
    private readonly Lock _gate = new();

    private string Signal() => rng.Next(100) switch
    {
        < 40 => "none",
        < 75 => "INT",
        < 90 => "TERM",
        _ => "KILL",
    };

    /// <summary>Half the signals in the program's first second (start-up, begin, the first chunks), the rest up to 3 s.</summary>
    private double Delay() => rng.Next(2) == 0 ? 0.05 + rng.NextDouble() * 0.95 : 1 + rng.NextDouble() * 2;

    public void Backup()
    {
        string[] type = rng.Next(100) switch
        {
            < 30 => ["--type", "full"],
            < 40 => ["--type", "copy"],
            < 65 => ["--type", "incremental"],
            < 80 => ["--type", "differential"],
            < 92 => ["--type", "incremental", "--changed-pages"],
            _ => ["--type", "differential", "--changed-pages"],
        };
        var signal = Signal();
        var before = Sets();
        var acked = writers.Snapshot();
        string[] digest = rng.Next(2) == 0 ? ["--digest"] : [];
        var o = Programs.Run(signal, Delay(), CommandBound, ["backup", "--server", server.Url, "--repo", repo, .. type, .. digest]);
        Record(o, $"backup {string.Join(' ', type)}");
        foreach (var id in Sets().Except(before))
        {
            _known[id] = acked;
        }
        if (o.Signal == "KILL" && o.Landed)
        {
            AbortSessions(); // as an operator would after killing a backup program: its session would hold the instance for its lease
        }
    }

    /// <summary>Offline restores of known sets, some stopped by ^C; each one that finished is checked against the
    /// writers' record of when its backup began. With lanes, three per lane, the lanes at once, each lane into its own
    /// directory.</summary>
    public void Restore()
    {
        if (_known.Count == 0)
        {
            return;
        }
        // Drawn here, in order, so that the seed decides the same restores whatever the lanes' timing.
        var plan = Enumerable.Range(0, lanes > 1 ? 3 * lanes : 1).Select(i =>
        {
            var (id, acked) = _known.ElementAt(rng.Next(_known.Count));
            return (Lane: i % lanes, Id: id, Acked: acked, Signal: rng.Next(100) < 30 ? "INT" : "none", Delay: Delay());
        }).ToList();
        Parallel.ForEach(plan.GroupBy(r => r.Lane), new ParallelOptions { MaxDegreeOfParallelism = lanes }, lane =>
        {
            foreach (var r in lane)
            {
                RestoreOne(r.Lane, r.Id, r.Acked, r.Signal, r.Delay);
            }
        });
    }

    private void RestoreOne(int lane, string id, long[] acked, string signal, double delay)
    {
        var target = Path.Combine(root, $"restored-{lane}");
        ClearScratch(target);
        var o = Programs.Run(signal, delay, CommandBound, "restore", "--repo", repo, "--set", id, "--to", target);
        Record(o, "restore");
        if (o.Exit != 0 || o.Hung)
        {
            return;
        }
        var problem = Check(Path.Combine(target, "store"), acked);
        lock (_gate)
        {
            tally.RestoresChecked++;
            if (problem is not null)
            {
                tally.Violation($"restore of set {id}: {problem}");
            }
        }
    }

    /// <summary>A proof of a set (restore into scratch, recovery, every page, the tables against the backup's digest),
    /// stopped by ^C at times: a proof that fails is a bad set; a stopped one leaves no scratch behind once the next ends.</summary>
    public void Prove()
    {
        if (_known.Count == 0)
        {
            return;
        }
        var id = _known.Keys.ElementAt(rng.Next(_known.Count));
        var scratch = Path.Combine(root, "proofs");
        var signal = rng.Next(100) < 25 ? "INT" : "none";
        var o = Programs.Run(signal, Delay(), CommandBound, "prove", "--repo", repo, "--set", id, "--scratch", scratch);
        Record(o, "prove");
        if (o.Exit == 1)
        {
            tally.BadSets++;
            tally.Violation($"proof of set {id} failed: {o.Output[^Math.Min(600, o.Output.Length)..]}");
        }
        else if (o.Exit == 0 && !o.Landed)
        {
            tally.ProofsChecked++;
            if (Directory.Exists(scratch) && Directory.EnumerateDirectories(scratch).Any())
            {
                tally.Violation($"a proof of set {id} ended and left its scratch: {string.Join(", ", Directory.EnumerateDirectories(scratch))}");
            }
        }
    }

    public void Server(bool kill)
    {
        StopAndCheck(kill, "");
        server.Start();
    }

    /// <summary>Stops the server (SIGKILL or SIGTERM), times it, and checks its data offline: every commit
    /// acknowledged before is there, as one committed moment.</summary>
    private void StopAndCheck(bool kill, string when)
    {
        var (ms, hung) = server.Stop(kill);
        tally.ServerStops++;
        tally.ExitTime($"server {(kill ? "SIGKILL" : "SIGTERM")}", ms);
        if (hung)
        {
            tally.Violation($"the server did not exit within 30 s of {(kill ? "SIGKILL" : "SIGTERM")}");
        }
        var acked = writers.Snapshot(); // every acknowledgement came before the exit
        var data = Path.Combine(Path.GetDirectoryName(repo)!, "data");
        var problem = Check(Path.Combine(data, "store"), acked);
        if (problem is not null)
        {
            tally.Violation($"after {(kill ? "SIGKILL" : "SIGTERM")} of the server{when}: {problem}");
        }
        DropOnlineRestores(data);
    }

    /// <summary>Fuzz requests, drawn from the seed in order, then sent by four clients at once (no 5xx but 503, no
    /// failed connection, the server up).</summary>
    public async Task FuzzAsync(int count)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Environment.GetEnvironmentVariable(Client.BluebackClient.TokenVariable));
        string[] routes = ["/v1/instances/store/backups", "/v1/backups/" + new string('a', 32), "/v1/backups/x/databases/mailbox/image?offset=-5&length=3",
            "/v1/backups/x/databases/mailbox/pages", "/v1/instances/store/databases/mailbox/tables/t/keys/k", "/v1/instances/store/batch",
            "/v1/instances/store/restores", "/v1/restores/zz/databases/mailbox/pages", "/v1/instances/nope/backups", "/v1/status", "/%ff%00", "/v1/instances/store/shipping/ready",
            "/v1/policies", "/v1/policies/nope/run?kind=zzz", "/v1/policies/x%2f..", "/v1/alerts", "/v1/restores", "/ui/..%2fapp.js", "/v1/backups/" + new string('b', 32) + "/digest",
            "/v1/instances/store/shipping/logs/4294967295", "/v1/instances/store/shipping/ack", "/v1/instances/store/promote", "/v1/metrics/history", "/v1/tokens"];
        HttpMethod[] methods = [HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch];
        var requests = new List<(HttpMethod Method, string Route, string Body)>(count);
        for (int i = 0; i < count; i++)
        {
            var method = methods[rng.Next(methods.Length)];
            var route = routes[rng.Next(routes.Length)];
            var body = new byte[rng.Next(0, 512)];
            rng.NextBytes(body);
            string[] bodies = ["{\"type\":\"full\",\"changedSince\":-1}", "{\"type\":\"incremental\",\"changedSince\":4294967295}", "{\"ops\":[{}]}", "{", "null", "{\"generation\":-1}", Encoding.Latin1.GetString(body)];
            requests.Add((method, route, bodies[rng.Next(bodies.Length)]));
        }
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int sent = 0, next = -1;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (int i = Interlocked.Increment(ref next); i < requests.Count; i = Interlocked.Increment(ref next))
            {
                var (method, route, body) = requests[i];
                using var request = new HttpRequestMessage(method, route) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                try
                {
                    using var response = await http.SendAsync(request).ConfigureAwait(false);
                    Interlocked.Increment(ref sent);
                    tally.FuzzAnswer((int)response.StatusCode);
                    if ((int)response.StatusCode >= 500 && response.StatusCode != System.Net.HttpStatusCode.ServiceUnavailable)
                    {
                        failures.Enqueue($"fuzz: {method} {route} answered {(int)response.StatusCode}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    failures.Enqueue($"fuzz: {method} {route} failed: {ex.Message}");
                }
            }
        }))).ConfigureAwait(false);
        tally.FuzzRequests += sent;
        foreach (var f in failures)
        {
            tally.Violation(f);
        }
        AbortSessions(); // a fuzzed begin may have made a session
        DisableShipping(); // and a fuzzed claim a shipping mark
    }

    /// <summary>Short-lived commands stopped by ^C (three in four) or SIGTERM somewhere in their first 1.5 s: copy
    /// backups, gc, verify, restores, list. Each must exit 130 (or 0 when it had finished) within its bound and leave no
    /// session on the server. With lanes, each lane runs <paramref name="count"/> commands beside the others; the
    /// backups and gc only in lane 0 (an instance takes one backup at a time; gc runs between them), the other lanes
    /// the rest of the mix.</summary>
    public void CancelBurst(int count)
    {
        var plan = PlanLanes(count, lane => lane == 0, rollAll =>
        {
            var kind = (rollAll ? rng.Next(12) : 7 + rng.Next(5)) switch
            {
                < 6 => "backup",
                < 7 => "gc",
                < 9 => "verify",
                < 11 when _known.Count > 0 => "restore",
                _ => "list",
            };
            return (kind, rng.Next(4) == 0 ? "TERM" : "INT", 0.05 + rng.NextDouble() * 1.45);
        });
        RunInLanes(plan, "burst", "(burst)", (_, _) => { });
    }

    /// <summary>Programs killed (SIGKILL) somewhere in their first 2 s: copy backups, restores, verify, the shipper, gc
    /// (whose maintenance lock the next gc takes over, its holder gone).
    /// Each must die within its bound; what a kill leaves (a session until its lease, a shipping lease, a partial
    /// restore) must not stop the next command, once an operator has aborted the session as after any killed backup.
    /// With lanes, as in <see cref="CancelBurst"/> (backups, the shipper and gc only in lane 0).</summary>
    public void KillBurst(int count)
    {
        var plan = PlanLanes(count, lane => lane == 0, rollAll =>
        {
            var kind = (rollAll ? rng.Next(22) : 10 + rng.Next(7)) switch
            {
                < 10 => "backup",
                < 14 when _known.Count > 0 => "restore",
                < 17 => "verify",
                < 20 => "ship",
                _ => "gc",
            };
            return (kind, "KILL", 0.05 + rng.NextDouble() * 1.95);
        });
        RunInLanes(plan, "burst", "(kill burst)", (kind, o) =>
        {
            if (kind == "backup" && o.Landed)
            {
                AbortSessions();
            }
            if (kind == "ship")
            {
                DisableShipping();
            }
        });
    }

    /// <summary>One command of a burst, drawn before the burst runs (the seed decides it, not the lanes' timing).</summary>
    private sealed record Planned(string Kind, string Set, string Signal, double Delay);

    /// <summary>Each lane's commands, drawn in order from the seed: <paramref name="draw"/> gets whether the lane
    /// may run the commands that touch the server's one-at-a-time state (a backup session, the shipping lease).</summary>
    private List<Planned>[] PlanLanes(int count, Func<int, bool> serverLane, Func<bool, (string Kind, string Signal, double Delay)> draw) =>
        Enumerable.Range(0, lanes).Select(lane => Enumerable.Range(0, count).Select(_ =>
        {
            var (kind, signal, delay) = draw(serverLane(lane));
            return new Planned(kind, kind == "restore" ? _known.Keys.ElementAt(rng.Next(_known.Count)) : "", signal, delay);
        }).ToList()).ToList().ToArray();

    /// <summary>Runs the lanes at once, each with its own scratch directory.</summary>
    private void RunInLanes(List<Planned>[] byLane, string scratchName, string label, Action<string, Outcome> after)
    {
        Parallel.For(0, byLane.Length, new ParallelOptions { MaxDegreeOfParallelism = byLane.Length }, lane =>
        {
            var scratch = Path.Combine(root, $"{scratchName}-{lane}");
            foreach (var c in byLane[lane])
            {
                ClearScratch(scratch);
                string[] command = c.Kind switch
                {
                    "backup" => ["backup", "--server", server.Url, "--repo", repo, "--type", "copy"],
                    "verify" => ["verify", "--repo", repo],
                    // Lane 0 alone, between its backups: gc removes what stopped and killed backups left a minute
                    // before (a stop mid-removal must leave every set whole). Not a grace of 0: the other lanes'
                    // verifies write their records beside it (seed 76: gc removed one's temporary file in flight).
                    "gc" => ["repo", "gc", "--repo", repo, "--grace", "1m"],
                    "restore" => ["restore", "--repo", repo, "--set", c.Set, "--to", scratch],
                    "ship" => ["ship", "--server", server.Url, "--repo", repo, "--max-lag", "1s", "--quiet", "--claim-wait", "0"],
                    _ => ["list", "--repo", repo],
                };
                var o = Programs.Run(c.Signal, c.Delay, CommandBound, command);
                Record(o, $"{c.Kind} {label}");
                after(c.Kind, o);
            }
        });
    }

    /// <summary>The log shipper, stopped after 1.5 to 5.5 s by ^C, SIGTERM or SIGKILL (a killed one's lease keeps the
    /// next waiting up to its claim-wait); then shipping is turned off as an operator would, so that the mark does not
    /// keep every generation for the rest of the run. What it shipped is checked by the verify rounds.</summary>
    public void Ship()
    {
        var signal = rng.Next(100) switch
        {
            < 60 => "INT",
            < 80 => "TERM",
            _ => "KILL",
        };
        var o = Programs.Run(signal, 1.5 + rng.NextDouble() * 4, CommandBound, "ship", "--server", server.Url, "--repo", repo, "--max-lag", "1s", "--quiet");
        Record(o, "ship");
        tally.ShipRounds++;
        DisableShipping();
    }

    /// <summary>A copy backup into a repository on a 16 MiB volume (a tmpfs this run mounted): it must fail with exit
    /// 2 and a message that says the volume is full, within its bound, with no set listed and the repository sound.
    /// A backup that fits (a young instance) is not counted.</summary>
    public void FullVolume(string small)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(small))
        {
            if (Directory.Exists(entry))
            {
                Directory.Delete(entry, recursive: true);
            }
            else
            {
                File.Delete(entry);
            }
        }
        var repoOnSmall = Path.Combine(small, "repo");
        if (Programs.Run("none", 0, CommandBound, "repo", "init", repoOnSmall) is not { Exit: 0 })
        {
            tally.Violation("repo init on the small volume failed");
            return;
        }
        var o = Programs.Run("none", 0, CommandBound, "backup", "--server", server.Url, "--repo", repoOnSmall, "--type", "copy", "--no-compress");
        tally.Commands++;
        if (o.Hung)
        {
            tally.Hangs++;
            tally.Violation($"a backup into a full volume did not exit within its bound: {Tail(o)}");
            return;
        }
        if (o.Exit == 0)
        {
            return;
        }
        tally.FullVolumes++;
        if (o.Exit != 2 || !o.Output.Contains("space", StringComparison.OrdinalIgnoreCase))
        {
            tally.Violation($"a backup into a full volume: exit {o.Exit} (expected 2, with a message that says there is no space): {Tail(o)}");
        }
        var list = Programs.Run("none", 0, CommandBound, "list", "--repo", repoOnSmall, "--json");
        if (list.Exit != 0 || list.Output.Contains("\"id\"", StringComparison.Ordinal))
        {
            tally.Violation($"after a backup into a full volume, list says (exit {list.Exit}): {Tail(list)}");
        }
        AbortSessions();
    }

    private static void ClearScratch(string scratch)
    {
        if (Directory.Exists(scratch))
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    private static string Tail(Outcome o) => o.Output[^Math.Min(400, o.Output.Length)..];

    public void Verify()
    {
        var o = Programs.Run("none", 0, CommandBound, "verify", "--repo", repo);
        Record(o, "verify");
        if (o.Exit == 1)
        {
            tally.BadSets++;
            tally.Violation($"verify found problems: {o.Output[^Math.Min(600, o.Output.Length)..]}");
        }
    }

    private void Record(Outcome o, string what)
    {
        lock (_gate)
        {
            RecordLocked(o, what);
        }
    }

    private void RecordLocked(Outcome o, string what)
    {
        tally.Commands++;
        if (o.Hung)
        {
            tally.Hangs++;
            tally.Violation($"{what} ({o.Signal}) did not exit within its bound: {o.Output[^Math.Min(300, o.Output.Length)..]}");
            return;
        }
        if (!o.Landed)
        {
            if (o.Exit is not (0 or 2 or 3))
            {
                tally.Violation($"{what}: exit {o.Exit} without a signal: {o.Output[^Math.Min(300, o.Output.Length)..]}");
            }
            if (o.Exit is 2 or 3)
            {
                // A refusal with its reason (a chain gap after a killed backup, a set forgotten before its proof), not a
                // crash: the reasons are listed.
                tally.Refusal(what, o.Output.Split('\n').LastOrDefault(l => l.Contains("blueback", StringComparison.Ordinal))?.Trim() ?? "(no message)");
            }
            return;
        }
        tally.ExitTime($"{o.Command} {o.Signal}", o.MsAfterSignal);
        if (o.Signal == "KILL")
        {
            tally.Kills++;
            return;
        }
        tally.Cancels++;
        // -2 / -15: the signal's default, before the runtime installed the program's handlers (its start-up): nothing
        // had begun.
        bool startUp = o.Delay < Programs.StartUpSeconds && o.Exit == (o.Signal == "INT" ? -2 : -15);
        if (o.Exit == 0 && o.MsAfterSignal > IgnoredStopMs)
        {
            // Finished well after the stop: the signal was ignored (a program that had finished exits at once).
            tally.Violation($"{what}: exit 0 {o.MsAfterSignal:0} ms after SIG{o.Signal}: the stop was not heeded: {o.Output[^Math.Min(300, o.Output.Length)..]}");
        }
        else if (o.Exit is not (130 or 0) && !startUp)
        {
            tally.Violation($"{what}: exit {o.Exit} after SIG{o.Signal} (expected 130, or 0 when it had already finished): {o.Output[^Math.Min(300, o.Output.Length)..]}");
        }
    }

    private HashSet<string> Sets()
    {
        var psi = new ProcessStartInfo("dotnet", [Programs.Cli, "list", "--repo", repo, "--json"]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        _ = p.StandardError.ReadToEndAsync();
        var json = p.StandardOutput.ReadToEnd();
        p.WaitForExit(60_000);
        return p.ExitCode != 0 ? [] : JsonDocument.Parse(json).RootElement.EnumerateArray()
            .Where(s => s.GetProperty("type").GetString() != "shipped").Select(s => s.GetProperty("id").GetString()!).ToHashSet();
    }

    private void AbortSessions()
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Environment.GetEnvironmentVariable(Client.BluebackClient.TokenVariable));
        try
        {
            var list = JsonDocument.Parse(http.GetStringAsync("/v1/backups").GetAwaiter().GetResult()).RootElement.GetProperty("sessions");
            foreach (var s in list.EnumerateArray())
            {
                http.DeleteAsync($"/v1/backups/{s.GetProperty("id").GetString()}").GetAwaiter().GetResult().Dispose();
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            // The server is restarting: its sessions went with it.
        }
    }

    private void DisableShipping()
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Environment.GetEnvironmentVariable(Client.BluebackClient.TokenVariable));
        try
        {
            http.PostAsync("/v1/instances/store/shipping/disable", null).GetAwaiter().GetResult().Dispose();
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            // The server is restarting; the next ship or fuzz round turns it off.
        }
    }

    /// <summary>The writers' keys in an instance directory (opened offline), against what was acknowledged.</summary>
    private static string? Check(string instanceDirectory, long[] acked)
    {
        try
        {
            using var inst = StorageInstance.Open(instanceDirectory, new InstanceOptions());
            using var r = inst.BeginRead();
            var present = new Dictionary<int, SortedSet<long>>();
            foreach (var kv in r.Scan(inst.GetDatabase("mailbox"), "soak"))
            {
                if (Writers.TryParse(Encoding.UTF8.GetString(kv.Key), out int w, out long n))
                {
                    if (!present.TryGetValue(w, out var set))
                    {
                        present[w] = set = [];
                    }
                    set.Add(n);
                    if (!kv.Value.AsSpan().SequenceEqual(Writers.Value(w, n)))
                    {
                        return $"writer {w} key {n} holds other bytes than were written";
                    }
                }
            }
            return Writers.Check(present, acked);
        }
        catch (Exception ex) when (ex is StorageException or IOException)
        {
            return $"the instance does not open: {ex.Message}";
        }
    }
}
