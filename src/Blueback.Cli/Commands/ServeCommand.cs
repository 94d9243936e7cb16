using System.CommandLine;
using Blueback.Server;
using Blueback.Storage;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback serve</c>: host the instances over HTTP until Ctrl+C or SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Build()
    {
        var data = new Option<string>("--data") { Description = "Data directory (one folder per instance).", DefaultValueFactory = _ => "blueback-data" };
        var listen = new Option<string[]>("--listen") { Description = "Address to listen on, http://IP:PORT or https://IP:PORT (repeatable; loopback by default; anything else needs TLS or --insecure-listen).", AllowMultipleArgumentsPerToken = false };
        var unix = new Option<string?>("--unix") { Description = "Also listen on this Unix domain socket (for local clients)." };
        var config = new Option<string?>("--config") { Description = "JSON file declaring instances, databases and engine settings." };
        var shutdown = new Option<double>("--shutdown-timeout") { Description = "Seconds a graceful stop may take.", DefaultValueFactory = _ => 10 };
        var adminToken = new Option<string?>("--admin-token-file") { Description = "On first start, make this file's token the admin token (automation), instead of a new one in DATA/auth/admin.token." };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain) for https:// listeners." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert." };
        var insecure = new Option<bool>("--insecure-listen") { Description = "Allow plain http:// on an address other than loopback (tokens and data in clear text)." };
        var repairFrom = new Option<string?>("--repair-from") { Description = "Repair a page that fails its checksum in a read from this warm standby (http://HOST:PORT) or backup repository (a directory or s3://BUCKET/PREFIX, opened with the --s3-* options and --key-file): its image, plus this instance's own log since (docs/engine.md)." };
        var repairToken = new Option<string?>("--repair-token-file") { Description = "A file holding a token of the --repair-from standby (role backup or admin)." };
        var cmd = new Command("serve", "Serve the instances over HTTP (data API, status, metrics) until stopped.") { data, listen, unix, config, shutdown, adminToken, tlsCert, tlsKey, insecure, repairFrom, repairToken };
        // A repository repair source is opened as the repository commands open theirs (no transfers to pace: one page).
        var repo = new RepoOptions();
        foreach (var o in new Option[] { repo.S3Endpoint, repo.S3Region, repo.S3PathStyle, repo.S3Checksums, repo.S3PartSize, repo.KeyFile })
        {
            cmd.Options.Add(o);
        }
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            var listenUrls = pr.GetValue(listen) is { Length: > 0 } l ? l : (pr.GetValue(unix) is null ? ["http://127.0.0.1:7420"] : []);
            var options = new ServeOptions
            {
                DataDirectory = pr.GetValue(data)!,
                Listen = listenUrls,
                UnixSocket = pr.GetValue(unix),
                ConfigFile = pr.GetValue(config),
                ShutdownTimeout = TimeSpan.FromSeconds(pr.GetValue(shutdown)),
                AdminTokenFile = pr.GetValue(adminToken),
                RepairFrom = pr.GetValue(repairFrom),
                RepairTokenFile = pr.GetValue(repairToken),
                RepairRepository = new Server.Repair.RepairRepositoryConfig
                {
                    S3Endpoint = pr.GetValue(repo.S3Endpoint),
                    S3Region = pr.GetValue(repo.S3Region),
                    S3PathStyle = pr.GetValue(repo.S3PathStyle),
                    S3Checksums = pr.GetValue(repo.S3Checksums),
                    S3PartSize = pr.GetValue(repo.S3PartSize),
                    KeyFile = pr.GetValue(repo.KeyFile),
                },
                TlsCertificate = pr.GetValue(tlsCert),
                TlsKey = pr.GetValue(tlsKey),
                InsecureListen = pr.GetValue(insecure),
            };
            try
            {
                await BluebackServer.RunAsync(options, Console.Out, signals.Token).ConfigureAwait(false);
                return Output.Ok;
            }
            catch (Exception ex) when (ex is ServerConfigException or StorageException or IOException)
            {
                Console.Error.WriteLine($"blueback serve: {ex.Message}");
                return Output.Failed;
            }
            catch (OperationCanceledException) when (signals.Signalled)
            {
                return Output.Cancelled;
            }
        });
        return cmd;
    }
}
