using Blueback.Protocol;
using System.CommandLine;
using Blueback.Client;
using Blueback.Server;
using Blueback.Server.Standby;
using Blueback.Repository;
using Blueback.Repository.Stores;
using Blueback.Storage;
using Blueback.Storage.Format;
using Blueback.Storage.Restore;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback standby</c>: a warm standby of a shipped instance, served read-only until promoted
/// (docs/standby.md); <c>blueback standby promote</c> makes it the primary.</summary>
internal static class StandbyCommand
{
    public static Command Build()
    {
        var instance = new Option<string>("--instance") { Description = "The shipped instance to follow.", DefaultValueFactory = _ => "store" };
        var to = new Option<string>("--to") { Description = "Data directory of the standby (the instance goes in DIR/NAME); empty or new on the first start, the standby's own after.", Required = true };
        var listen = new Option<string[]>("--listen") { Description = "Address to serve on, http://IP:PORT or https://IP:PORT (repeatable; loopback 127.0.0.1:7421 by default).", AllowMultipleArgumentsPerToken = false };
        var unix = new Option<string?>("--unix") { Description = "Also listen on this Unix domain socket." };
        var poll = new Option<string>("--poll") { Description = "How often to look in the repository for new generations.", DefaultValueFactory = _ => "1s" };
        var adminToken = new Option<string?>("--admin-token-file") { Description = "On first start, make this file's token the admin token, instead of a new one in DIR/auth/admin.token." };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain) for https:// listeners." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert." };
        var insecure = new Option<bool>("--insecure-listen") { Description = "Allow plain http:// on an address other than loopback." };
        var delay = new Option<string>("--apply-delay") { Description = "A lagged standby: fetch shipped generations at once, apply each commit only once it is this old (30m, 1h, 2d), so a bad write can be left out at promotion.", DefaultValueFactory = _ => "0" };
        var minFree = new Option<string>("--min-log-free") { Description = "A lagged standby whose log volume has less free space than this (512M, 2G) applies everything fetched at once (plays down) until space comes back.", DefaultValueFactory = _ => "1G" };
        var cmd = new Command("standby", "Run a warm standby of a shipped instance: restore its latest full set, apply every shipped generation as it arrives (or after --apply-delay), serve it read-only until promoted.") { instance, to, listen, unix, poll, adminToken, tlsCert, tlsKey, insecure, delay, minFree };
        var repo = new RepoOptions();
        repo.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            var listenUrls = pr.GetValue(listen) is { Length: > 0 } l ? l : (pr.GetValue(unix) is null ? ["http://127.0.0.1:7421"] : []);
            try
            {
                var options = new ServeOptions
                {
                    DataDirectory = pr.GetValue(to)!,
                    Listen = listenUrls,
                    UnixSocket = pr.GetValue(unix),
                    AdminTokenFile = pr.GetValue(adminToken),
                    TlsCertificate = pr.GetValue(tlsCert),
                    TlsKey = pr.GetValue(tlsKey),
                    InsecureListen = pr.GetValue(insecure),
                    Standby = new StandbyOptions(pr.GetValue(instance)!, ct => repo.OpenAsync(pr, ct))
                    {
                        Poll = Durations.Parse(pr.GetValue(poll)!, "--poll"),
                        ApplyDelay = Durations.Parse(pr.GetValue(delay)!, "--apply-delay"),
                        MinLogFree = RepositoryStores.ParseSize(pr.GetValue(minFree), "--min-log-free") ?? StandbyOptions.DefaultMinLogFree,
                    },
                };
                await BluebackServer.RunAsync(options, Console.Out, signals.Token).ConfigureAwait(false);
                return Output.Ok;
            }
            catch (Exception ex) when (ex is ServerConfigException or StorageException or IOException or FormatException or RepositoryException)
            {
                Console.Error.WriteLine($"blueback standby: {ex.Message}");
                return Output.Failed;
            }
            catch (OperationCanceledException) when (signals.Signalled)
            {
                return Output.Cancelled;
            }
        });
        cmd.Subcommands.Add(Promote());
        cmd.Subcommands.Add(Status());
        return cmd;
    }

    private static Command Promote()
    {
        var server = new Option<string>("--server") { Description = "The standby's address.", DefaultValueFactory = _ => "http://127.0.0.1:7421" };
        var instance = new Option<string>("--instance") { Description = "The standby's instance.", DefaultValueFactory = _ => "store" };
        var toTime = new Option<string?>("--to-time") { Description = "Apply only the commits at or before this time (ISO 8601; no zone: UTC), then promote: the way back from a bad write on a lagged standby." };
        var toLsn = new Option<string?>("--to-lsn") { Description = "Apply only the commits that end at or before this log position (GEN:OFFSET, as 'blueback db logs' prints), then promote." };
        var cmd = new Command("promote", "Promote a warm standby: apply what is left (or down to --to-time / --to-lsn), start a new log stream (a new timeline), and take writes.") { server, instance, toTime, toLsn };
        var tokens = new TokenOptions();
        tokens.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            if (!TryStop(pr.GetValue(toTime), pr.GetValue(toLsn), out var stop))
            {
                return Output.Usage; // the command line is wrong, not the standby
            }
            return await RepositoryCommands.GuardAsync(async () =>
            {
                using var client = new BluebackClient(pr.GetValue(server)!, timeout: TimeSpan.FromSeconds(60), token: tokens.Resolve(pr), trust: tokens.Trust(pr));
                try
                {
                    var r = await client.PromoteAsync(pr.GetValue(instance)!, stop, signals.Token).ConfigureAwait(false);
                    Console.WriteLine($"Promoted {r.Instance} in {r.Seconds:0.00} s: applied {(r.Stop is { } s ? $"down to {s}, " : "")}through generation {r.AppliedThrough} (position {r.AppliedPosition}){(r.LastCommit is { } t ? $", last commit {t:O}" : "")}; it takes writes now, on the new log stream {r.NewLogSignature}. Take a full backup to start its chain (its shipping needs one).");
                    if (r.Warning is not null)
                    {
                        Console.Error.WriteLine($"blueback standby promote: warning: {r.Warning}");
                    }
                    return Output.Ok;
                }
                catch (Exception ex) when (ex is BluebackApiException or HttpRequestException && !signals.Signalled)
                {
                    Console.Error.WriteLine($"blueback standby promote: {ex.Message}");
                    return Output.Failed;
                }
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    private static Command Status()
    {
        var server = new Option<string>("--server") { Description = "The standby's address.", DefaultValueFactory = _ => "http://127.0.0.1:7421" };
        var instance = new Option<string>("--instance") { Description = "The standby's instance.", DefaultValueFactory = _ => "store" };
        var json = new Option<bool>("--json") { Description = "Print the standby's status object (as GET /v1/status holds it) as JSON." };
        var cmd = new Command("status", "Show where a warm standby stands: applied, lag, and for a lagged one the delay held and what waits.") { server, instance, json };
        var tokens = new TokenOptions();
        tokens.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            return await RepositoryCommands.GuardAsync(async () =>
            {
                using var client = new BluebackClient(pr.GetValue(server)!, timeout: TimeSpan.FromSeconds(30), token: tokens.Resolve(pr), trust: tokens.Trust(pr));
                try
                {
                    var name = pr.GetValue(instance)!;
                    var s = (await client.StatusAsync(signals.Token).ConfigureAwait(false)).Instances.FirstOrDefault(i => i.Name == name)?.Standby;
                    if (s is null)
                    {
                        Console.Error.WriteLine($"blueback standby status: instance '{name}' on {pr.GetValue(server)} is not a warm standby.");
                        return Output.Failed;
                    }
                    if (pr.GetValue(json))
                    {
                        Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(s, ProtocolJson.Default.StandbyStatus));
                        return Output.Ok;
                    }
                    Console.WriteLine($"{name}: {s.State}, applied through generation {s.AppliedThrough} ({s.AppliedPosition}){(s.LastCommit is { } t ? $", last commit {t:O}" : "")}; the primary shipped through {s.PrimaryShippedThrough}, lag {s.LagGenerations} generation(s), {s.LagSeconds:0.###} s");
                    if (s.ApplyDelaySeconds > 0)
                    {
                        Console.WriteLine($"apply delay {s.ApplyDelaySeconds:0.###} s, held {s.HeldSeconds:0.###} s; waiting: {s.WaitingGenerations} generation(s), {s.WaitingBytes} bytes{(s.OldestWaitingCommit is { } o ? $", oldest commit {o:O}" : "")}");
                    }
                    if (s.PlayDown is { } why)
                    {
                        Console.WriteLine($"playing down early ({s.PlayDowns} early applies): {why}");
                    }
                    if (s.LastError is { } e)
                    {
                        Console.WriteLine($"last error: {e}");
                    }
                    return Output.Ok;
                }
                catch (Exception ex) when (ex is BluebackApiException or HttpRequestException && !signals.Signalled)
                {
                    Console.Error.WriteLine($"blueback standby status: {ex.Message}");
                    return Output.Failed;
                }
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    /// <summary>The promotion's stop point as sent (null: everything); false after saying why it is refused.</summary>
    private static bool TryStop(string? time, string? lsn, out string? stop)
    {
        stop = null;
        if (time is not null && lsn is not null)
        {
            Console.Error.WriteLine("blueback standby promote: give --to-time or --to-lsn, not both.");
            return false;
        }
        if (lsn is not null && !Lsn.TryParse(lsn, out _))
        {
            Console.Error.WriteLine($"blueback standby promote: --to-lsn '{lsn}' is not a log position: write GEN:OFFSET, as 'blueback db logs' prints.");
            return false;
        }
        if (time is not null && (Lsn.TryParse(time, out _) || !RecoveryStop.TryParse(time, out _)))
        {
            Console.Error.WriteLine($"blueback standby promote: --to-time '{time}' is not a time: write ISO 8601, such as 2026-11-22T10:15:00Z (no zone: UTC).");
            return false;
        }
        stop = time is null ? lsn : RecoveryStop.Parse(time).ToString();
        return true;
    }
}
