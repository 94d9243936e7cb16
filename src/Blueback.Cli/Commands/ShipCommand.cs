using Blueback.Protocol;
using System.CommandLine;
using System.Globalization;
using Blueback.Backup;
using Blueback.Client;
using Blueback.Repository.Compression;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback ship</c>: continuous log shipping of an instance into a repository, until stopped
/// (docs/shipping.md). Every commit acknowledged more than <c>--max-lag</c> ago is durable in the repository.</summary>
internal static class ShipCommand
{
    public static Command Build()
    {
        var server = new Option<string>("--server") { Description = "Server address: http://HOST:PORT or unix:/path.sock.", DefaultValueFactory = _ => "http://127.0.0.1:7420" };
        var instance = new Option<string>("--instance") { Description = "Instance to ship.", DefaultValueFactory = _ => "store" };
        var maxLag = new Option<string>("--max-lag") { Description = "The longest a commit waits before it is durable in the repository: 5s by default (1s at least).", DefaultValueFactory = _ => "5s" };
        var noCompress = new Option<bool>("--no-compress") { Description = "Store shipped generations uncompressed." };
        var claimWait = new Option<string>("--claim-wait") { Description = "How long to wait for another shipper's hold on the instance to end (a killed shipper's lease runs out within the server's shipperLeaseSeconds, 10 s by default) before giving up: 15s by default, 0 gives up at once.", DefaultValueFactory = _ => "15s" };
        var quiet = new Option<bool>("--quiet") { Description = "Print only problems, not a line per generation shipped." };
        var cmd = new Command("ship", "Ship an instance's log into a repository continuously, until Ctrl+C or SIGTERM: a lost server loses at most --max-lag of commits.") { server, instance, maxLag, noCompress, claimWait, quiet };
        var repo = new RepoOptions();
        repo.AddTo(cmd);
        var tokens = new TokenOptions();
        tokens.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            return await RepositoryCommands.GuardAsync(async () =>
            {
                var lag = Durations.Parse(pr.GetValue(maxLag)!, "--max-lag");
                if (lag < TimeSpan.FromSeconds(1))
                {
                    throw new FormatException($"--max-lag {pr.GetValue(maxLag)} is too short: 1s at least (each generation closed early costs a log file).");
                }
                var r = await repo.OpenAsync(pr, signals.Token).ConfigureAwait(false);
                using var client = new BluebackClient(pr.GetValue(server)!, timeout: TimeSpan.FromSeconds(30), token: tokens.Resolve(pr), trust: tokens.Trust(pr));
                var options = new ShipOptions(pr.GetValue(instance)!, lag) { Codec = pr.GetValue(noCompress) ? Codec.None : Codec.Default(), ClaimPatience = Durations.Parse(pr.GetValue(claimWait)!, "--claim-wait") };
                var shipper = new LogShipper(client, r, options);
                bool talk = !pr.GetValue(quiet);
                shipper.Notice += line => Console.Error.WriteLine($"blueback ship: {line}");
                shipper.Shipped += s =>
                {
                    if (talk)
                    {
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"shipped generation {s.Generation}: {s.Commits} commit(s), {s.Bytes / 1048576.0:0.0} MiB ({s.StoredBytes / 1048576.0:0.00} MiB stored) in {s.Seconds:0.00} s; commits up to {s.Cover:HH:mm:ss.fff} are in the repository{(s.DeletedOnServer.Count > 0 ? $"; the server deleted generation(s) {s.DeletedOnServer.Min()}-{s.DeletedOnServer.Max()}" : "")}"));
                    }
                };
                try
                {
                    await shipper.RunAsync(signals.Token).ConfigureAwait(false);
                }
                catch (ShippingFailedException ex) when (!signals.Signalled)
                {
                    Console.Error.WriteLine($"blueback ship: {ex.Message}");
                    return Output.Failed;
                }
                catch (Exception ex) when (!signals.Signalled && ex is not (OperationCanceledException or OutOfMemoryException))
                {
                    // Not one the shipper knows to ride out: said whole (it is a defect to report), and the exit is a
                    // failure's, never the runtime's stack trace and 1 (the code for "a problem found").
                    Console.Error.WriteLine($"blueback ship: stopped by an unexpected error: {Output.Describe(ex)}{(Output.Verbose ? "" : " (--verbose prints the details to report)")}");
                    Console.Error.WriteLine("blueback ship: the server keeps every generation not yet shipped; start 'blueback ship' again.");
                    return Output.Failed;
                }
                return Output.Ok; // not reached: shipping runs until stopped
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }
}
