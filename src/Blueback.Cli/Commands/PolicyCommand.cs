using System.CommandLine;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback policy list|show|run-now|history|set|remove</c>: the backup policies a server runs by itself.</summary>
internal static class PolicyCommand
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan CancelBound = TimeSpan.FromSeconds(15);

    public static Command Build()
    {
        var cmd = new Command("policy", "The backup policies the server runs: schedules, retention, proofs (docs/console.md).");
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var name = new Argument<string>("NAME") { Description = "The policy's name." };

        var list = new Command("list", "Every policy: schedule, what runs now, what is next, the last outcome.") { json };
        Wire(list, async (calls, pr, ct) =>
        {
            var policies = await calls.ListAsync(ct).ConfigureAwait(false);
            if (pr.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new PolicyList { Policies = policies }, ProtocolJson.Default.PolicyList));
                return Output.Ok;
            }
            Console.WriteLine($"{"policy",-16} {"instance",-10} {"schedule",-34} {"now",-18} {"last backup",-28} {"sets",5}  proofs");
            foreach (var p in policies)
            {
                var d = p.Definition;
                var schedule = string.Join(", ", new[] { ("full", d.Full), ("incr", d.Incremental), ("diff", d.Differential) }.Where(x => x.Item2 is not null).Select(x => $"{x.Item1} {x.Item2}")) + (d.Shipping ? ", ship" : "");
                var now = p.Running is { } r ? $"{r.Kind.WireName()} {r.Id}" : p.Proving is { } pv ? $"prove {pv.Id}" : "idle";
                var last = p.Last.Values.Where(j => j.Kind.IsBackup()).MaxBy(j => j.Ended) is { } l ? $"{l.Kind.WireName()} {l.State.WireName()} {l.Ended:MM-dd HH:mm:ss}" : "none yet";
                int failed = p.Sets.Count(s => s.Proved == false), proven = p.Sets.Count(s => s.Proved == true);
                Console.WriteLine($"{d.Name,-16} {d.Instance,-10} {schedule,-34} {now,-18} {last,-28} {p.Sets.Count,5}  {proven} proven{(failed > 0 ? $", {failed} FAILED" : "")}{(p.ConsecutiveFailures > 0 ? $"; {p.ConsecutiveFailures} backup(s) failed in a row" : "")}");
            }
            return Output.Ok;
        });

        var show = new Command("show", "One policy: its definition, next runs, last jobs, shipper and sets.") { name, json };
        Wire(show, async (calls, pr, ct) =>
        {
            var p = await calls.GetAsync(pr.GetValue(name)!, ct).ConfigureAwait(false);
            if (pr.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(p, ProtocolJson.Default.PolicyInfo));
                return Output.Ok;
            }
            var d = p.Definition;
            Console.WriteLine($"policy {d.Name} ({p.Source}): instance {d.Instance} into {d.Repository.Location}");
            Console.WriteLine($"  schedule: full every {d.Full}{(d.Incremental is { } i ? $", incremental every {i}" : "")}{(d.Differential is { } df ? $", differential every {df}" : "")}{(d.ChangedPages ? " (changed pages)" : "")}{(d.SkipUnchanged ? $"; fulls skip unchanged pages, one reads them all every {d.ReadAllAfter ?? PolicyDefinition.DefaultReadAllAfter}" : "")}{(d.Shipping ? "; shipping on" : "")}");
            if (d.Retention is { } rt)
            {
                Console.WriteLine($"  retention: {string.Join(", ", new[] { ("last", rt.KeepLast?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("daily", rt.KeepDaily?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("weekly", rt.KeepWeekly?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("monthly", rt.KeepMonthly?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("within", rt.KeepWithin) }.Where(x => x.Item2 is not null).Select(x => $"keep {x.Item1} {x.Item2}"))}");
            }
            Console.WriteLine($"  proofs: {(d.Prove.AfterEach ? "after each set" : "not after each set")}{(d.Prove.Every is { } e ? $", the oldest-proven set every {e}" : "")}");
            foreach (var (kind, at) in p.Next.OrderBy(kv => kv.Value))
            {
                Console.WriteLine($"  next {kind,-12} {at:yyyy-MM-dd HH:mm:ss} UTC");
            }
            foreach (var j in new[] { p.Running, p.Proving }.OfType<PolicyJobInfo>())
            {
                Console.WriteLine($"  running {j.Kind.WireName()} job {j.Id} since {j.Started:HH:mm:ss} ({j.Trigger.WireName()}){(j.ProgressBytes is { } b ? $", {b / 1048576.0:0.0} MiB sent" : "")}");
            }
            if (p.Shipper is { } sh)
            {
                Console.WriteLine($"  shipper: {sh}");
            }
            foreach (var s in p.Sets.OrderBy(s => s.Ended))
            {
                Console.WriteLine($"  set {s.Id} {s.Type,-16} {s.Ended:yyyy-MM-dd HH:mm:ss} {s.Size / 1048576.0,8:0.0} MiB  proof {(s.Proved is null ? "not yet" : s.Proved.Value ? $"ok {s.ProvedAt:MM-dd HH:mm}{(s.DigestMatch == true ? ", digest match" : "")}" : "FAILED")}");
            }
            return Output.Ok;
        });

        var limit = new Option<int>("--limit") { Description = "How many jobs, newest first.", DefaultValueFactory = _ => 20 };
        var history = new Command("history", "The policy's jobs, newest first: outcome, duration, set, size, rate, error.") { name, limit, json };
        Wire(history, async (calls, pr, ct) =>
        {
            var jobs = await calls.HistoryAsync(pr.GetValue(name)!, pr.GetValue(limit), ct).ConfigureAwait(false);
            if (pr.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new PolicyHistory { Jobs = jobs }, ProtocolJson.Default.PolicyHistory));
                return Output.Ok;
            }
            Console.WriteLine($"{"job",-12} {"kind",-12} {"trigger",-12} {"outcome",-11} {"started (UTC)",-19} {"seconds",8} {"set",-8} {"MiB",8} {"MB/s",7}  error");
            foreach (var j in jobs)
            {
                Console.WriteLine($"{j.Id,-12} {j.Kind.WireName(),-12} {j.Trigger.WireName(),-12} {j.State.WireName(),-11} {j.Started:yyyy-MM-dd HH:mm:ss} {j.Seconds,8:0.0} {Blueback.Repository.SetIds.Short(j.Set ?? ""),-8} {(j.Bytes ?? 0) / 1048576.0,8:0.0} {j.RateMBps,7:0.0}  {j.Error}");
            }
            return Output.Ok;
        });

        var kind = new Option<string>("--kind") { Description = "full, incremental, differential, prove, verify or restore (the set into a new instance of the server).", DefaultValueFactory = _ => "full" };
        var set = new Option<string?>("--set") { Description = "With --kind prove, verify or restore: the set (default: the newest)." };
        var noWait = new Option<bool>("--no-wait") { Description = "Print the job's id and return; do not wait for it." };
        var run = new Command("run-now", "Run a job of the policy now and wait for it (Ctrl+C stops the job: no partial set is left).") { name, kind, set, noWait, json };
        Wire(run, async (calls, pr, ct) => await RunNowAsync(calls, pr.GetValue(name)!, pr.GetValue(kind)!, pr.GetValue(set), pr.GetValue(noWait), pr.GetValue(json), ct).ConfigureAwait(false));

        var file = new Option<string>("--file") { Description = "A JSON file holding the policy (its fields: docs/console.md).", Required = true };
        var put = new Command("set", "Add or replace a policy (kept by the server in DATA/policies/api.json; admin).") { file };
        Wire(put, async (calls, pr, ct) =>
        {
            // As strict as the server's config file: an unknown key (a typo) is refused here, before the server drops it.
            var policy = Blueback.Server.ServerConfig.ParsePolicy(await File.ReadAllTextAsync(pr.GetValue(file)!, ct).ConfigureAwait(false), $"Policy file '{pr.GetValue(file)}'");
            var p = await calls.PutAsync(policy, ct).ConfigureAwait(false);
            Console.WriteLine($"Policy {p.Definition.Name} set; next full backup {p.Next.GetValueOrDefault("full"):yyyy-MM-dd HH:mm:ss} UTC.");
            return Output.Ok;
        });
        var remove = new Command("remove", "Remove a policy set through the API (its running job is stopped; its sets stay in the repository).") { name };
        Wire(remove, async (calls, pr, ct) =>
        {
            await calls.DeleteAsync(pr.GetValue(name)!, ct).ConfigureAwait(false);
            Console.WriteLine($"Policy {pr.GetValue(name)} removed.");
            return Output.Ok;
        });
        foreach (var c in new[] { list, show, history, run, put, remove })
        {
            cmd.Subcommands.Add(c);
        }
        return cmd;
    }

    /// <summary>Starts the job and follows it to its end; a Ctrl+C cancels it on the server and waits (bounded) for
    /// its program to remove what it had written.</summary>
    private static async Task<int> RunNowAsync(PolicyCalls calls, string name, string kind, string? set, bool noWait, bool json, CancellationToken ct)
    {
        var job = await calls.RunAsync(name, kind, set, ct).ConfigureAwait(false);
        if (noWait)
        {
            Console.WriteLine(json ? JsonSerializer.Serialize(job, ProtocolJson.Default.PolicyJobInfo) : $"Started {job.Kind.WireName()} job {job.Id} of policy {name}.");
            return Output.Ok;
        }
        Console.Error.WriteLine($"policy {name}: {job.Kind.WireName()} job {job.Id} started; Ctrl+C stops it.");
        var line = new ProgressLine(json);
        try
        {
            while (job.State == PolicyJobState.Running)
            {
                await Task.Delay(Poll, ct).ConfigureAwait(false);
                job = await calls.JobAsync(name, job.Id, ct).ConfigureAwait(false);
                if (line.Due && job.ProgressBytes is { } b)
                {
                    line.Write($"policy {name}: {job.Kind.WireName()} job {job.Id}: {b / 1048576.0:0.0} MiB sent");
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            line.Done();
            using var bound = new CancellationTokenSource(CancelBound);
            try
            {
                await calls.CancelAsync(name, job.Id, bound.Token).ConfigureAwait(false);
                do
                {
                    await Task.Delay(Poll, bound.Token).ConfigureAwait(false);
                    job = await calls.JobAsync(name, job.Id, bound.Token).ConfigureAwait(false);
                }
                while (job.State == PolicyJobState.Running);
                Console.Error.WriteLine($"blueback: cancelled; job {job.Id} {job.State.WireName()}{(job.Error is { } e ? $" ({e})" : "")}.");
            }
            catch (Exception ex) when (ex is OperationCanceledException or BluebackApiException or HttpRequestException)
            {
                Console.Error.WriteLine($"blueback: cancelled; job {job.Id} was asked to stop but did not say it had within {CancelBound.TotalSeconds:0} s ({ex.Message}). 'blueback policy history {name}' shows how it ended.");
            }
            return Output.Cancelled;
        }
        line.Done();
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(job, ProtocolJson.Default.PolicyJobInfo));
        }
        else
        {
            Console.WriteLine($"policy {name}: {job.Kind.WireName()} job {job.Id} {job.State.WireName()} in {job.Seconds:0.0} s{(job.Set is { } s ? $", set {s}" : "")}{(job.Bytes is { } by ? $", {by / 1048576.0:0.0} MiB at {job.RateMBps:0.0} MB/s" : "")}{(job.ProofOk is { } ok ? ok ? ", proven" : ", PROOF FAILED" : "")}{(job.Error is { } err ? $": {err}" : "")}");
        }
        return job.State == PolicyJobState.Succeeded ? Output.Ok : job.ProofOk == false ? Output.ProblemFound : job.State == PolicyJobState.Cancelled ? Output.Cancelled : Output.Failed;
    }

    private static void Wire(Command command, Func<PolicyCalls, ParseResult, CancellationToken, Task<int>> body)
    {
        var server = new Option<string>("--server") { Description = "Server address: http://HOST:PORT or unix:/path.sock.", DefaultValueFactory = _ => "http://127.0.0.1:7420" };
        var tokens = new TokenOptions();
        command.Options.Add(server);
        tokens.AddTo(command);
        command.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            try
            {
                using var client = new BluebackClient(pr.GetValue(server)!, TimeSpan.FromSeconds(30), tokens.Resolve(pr), tokens.Trust(pr));
                return await body(new PolicyCalls(client), pr, signals.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (signals.Signalled)
            {
                Console.Error.WriteLine("blueback: cancelled.");
                return Output.Cancelled;
            }
            catch (Exception ex) when (ex is BluebackApiException or HttpRequestException or IOException or ArgumentException or JsonException or Blueback.Server.ServerConfigException)
            {
                Console.Error.WriteLine($"blueback policy: {ex.Message}");
                return Output.Failed;
            }
        });
    }
}
