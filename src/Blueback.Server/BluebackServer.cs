using System.Diagnostics;
using System.Net;
using Blueback.Server.Backups;
using Blueback.Server.Http;
using Blueback.Server.Instances;
using Blueback.Server.Observability;
using Blueback.Server.Restores;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Blueback.Server;

/// <summary>A mounted backup set to serve: its instance (opened from DATA/NAME with <paramref name="Options"/>, which make it
/// read-only over the set's images), its status, and the token file whose tokens may read it (null: a new admin token
/// in the mount's own directory, and loopback only).</summary>
public sealed record MountedServe(string Instance, Storage.InstanceOptions Options, Func<Protocol.MountStatus> Status, string? TokenFile);

public sealed record ServeOptions
{
    public string DataDirectory { get; init; } = "blueback-data";
    public IReadOnlyList<string> Listen { get; init; } = ["http://127.0.0.1:7420"];
    public string? UnixSocket { get; init; }
    public string? ConfigFile { get; init; }

    /// <summary>A config made in code (a program that embeds the server, the demo), used instead of
    /// <see cref="ConfigFile"/>.</summary>
    public ServerConfig? Config { get; init; }
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>PEM certificate (chain) and private key for https:// listeners.</summary>
    public string? TlsCertificate { get; init; }
    public string? TlsKey { get; init; }

    /// <summary>Allows plain http:// on addresses other than loopback (tokens and data in clear text).</summary>
    public bool InsecureListen { get; init; }

    /// <summary>On first start, the admin token to create (a file holding one) instead of a new random one.</summary>
    public string? AdminTokenFile { get; init; }

    /// <summary>Run as a warm standby of this instance, shipped into a repository (docs/standby.md).</summary>
    public Standby.StandbyOptions? Standby { get; init; }

    /// <summary>Where to repair damaged pages from: a warm standby's address (with a file holding its token) or a
    /// repository's location (with how to open it); over the config's "repairFrom", "repairTokenFile" and
    /// "repairRepository".</summary>
    public string? RepairFrom { get; init; }
    public string? RepairTokenFile { get; init; }
    public Repair.RepairRepositoryConfig? RepairRepository { get; init; }

    /// <summary>Serve a backup set mounted read-only (blueback mount) as this instance; null for an ordinary server.</summary>
    public MountedServe? Mount { get; init; }

    /// <summary>Called once the server listens, with its addresses (port 0 resolved): what a command prints for scripts.</summary>
    public Action<IReadOnlyList<string>>? Listening { get; init; }

    /// <summary>No log lines on the console (a server embedded in another command, such as the demo).</summary>
    public bool Quiet { get; init; }
}

/// <summary>The server process: opens the instances, serves them over HTTP (TCP and/or a Unix socket), and on
/// stop drains requests within a bound and closes every instance cleanly.</summary>
public static class BluebackServer
{
    /// <summary>The most backup streams send together while the instance's clients are busy ("backupBusyRateMBps");
    /// below it the rate follows the clients' latency (<see cref="Backups.BackupPacing"/>).</summary>
    public const double DefaultBackupBusyRateMBps = 200;

    /// <summary>The least they send however slow the clients' requests get ("backupBusyFloorMBps"): a 100 GB backup
    /// under a load that never lets up still ends within a day.</summary>
    public const double DefaultBackupBusyFloorMBps = 2;

    /// <summary>Requests of the instance's own clients (keys, scans, batches), which backups yield to.</summary>
    private static bool IsDataRequest(PathString path) =>
        path.StartsWithSegments("/v1/instances", StringComparison.Ordinal, out var rest)
        && (rest.Value?.Contains("/databases/", StringComparison.Ordinal) == true || rest.Value?.EndsWith("/batch", StringComparison.Ordinal) == true);

    public static async Task RunAsync(ServeOptions options, TextWriter output, CancellationToken stop)
    {
        options.Config?.Validate("The server config given in code"); // checked as strictly as a config file
        var config = options.Config ?? (options.ConfigFile is null ? (options.Standby is null && options.Mount is null ? ServerConfig.Default() : new ServerConfig()) : ServerConfig.Load(options.ConfigFile));
        if (options.Standby is { } sb && config.Instances.Any(i => i.Name == sb.Instance))
        {
            throw new ServerConfigException($"The config declares instance '{sb.Instance}', which this server is to be the warm standby of: a standby's instance comes from the repository. Remove it from the config.");
        }
        var shutdown = config.ShutdownTimeoutSeconds is { } secs ? TimeSpan.FromSeconds(secs) : options.ShutdownTimeout;
        CheckPortsFree(options.Listen); // a busy port said plainly, before the data directory or a token is made
        // First, before anything is created in it: one server per data directory, for this server's life.
        using var dataLock = DataDirectoryLock.Acquire(options.DataDirectory);
        var internalSocket = dataLock.InternalSocketName();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (!options.Quiet)
        {
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        }
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Blueback", LogLevel.Information);
        // Signals are the command's business (first: graceful stop, second: exit at once), not the host's.
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = shutdown);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            var limits = config.Limits;
            k.Limits.MaxRequestBodySize = limits.MaxBatchBodyBytes + (1 << 20); // restore uploads raise it per request
            k.Limits.MaxConcurrentConnections = limits.MaxConnections;
            k.Limits.MaxConcurrentUpgradedConnections = limits.MaxConnections;
            k.Limits.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersBytes;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(limits.RequestHeadersTimeoutSeconds);
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(limits.KeepAliveTimeoutSeconds);
            k.Limits.MinRequestBodyDataRate = new MinDataRate(limits.MinRequestBodyBytesPerSecond, TimeSpan.FromSeconds(5));
            Listen(k, options, output);
            k.Listen(DataDirectoryLock.UnixEndPoint(internalSocket)); // the server's own programs (policies) reach it here
        });

        using var loggerFactory = LoggerFactory.Create(b =>
        {
            if (!options.Quiet)
            {
                b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information);
            }
        });
        var logger = loggerFactory.CreateLogger("Blueback.Server");
        string? createdAdmin = null;
        var tokens = options.Mount is { TokenFile: { } mountTokens }
            ? Security.TokenStore.OpenReadersOf(options.DataDirectory, mountTokens)
            : Security.TokenStore.Open(options.DataDirectory, options.AdminTokenFile, out createdAdmin);
        if (createdAdmin is not null)
        {
            output.WriteLine($"First start: created an admin token in {createdAdmin} (readable by this user only). Clients use it with --token-file {createdAdmin}; 'blueback token create' makes tokens with narrower roles.");
        }
        using var repair = new Repair.PageRepairLog(logger);
        var repairSource = Repair.RepairSources.Open(options, config, repair);
        using var ownedRepairSource = repairSource as IDisposable;
        using var host = new InstanceHost(options.DataDirectory, config, logger, repairSource);
        using var metrics = new ServerMetrics(host);
        if (options.Mount is { } mount)
        {
            host.AddSlot(mount.Instance, "the backup set is being mounted").BringOnline(Storage.StorageInstance.Open(host.DirectoryOf(mount.Instance), mount.Options));
            metrics.AddMount(mount.Status);
        }
        using var sessions = new BackupSessions(TimeSpan.FromSeconds(config.BackupLeaseSeconds ?? 60), logger, config.Limits.MaxBackupSessions);
        var pacing = new BackupPacing((long)((config.BackupBusyRateMBps ?? DefaultBackupBusyRateMBps) * 1e6), (long)((config.BackupBusyFloorMBps ?? DefaultBackupBusyFloorMBps) * 1e6));
        using var backupReads = new BackgroundPriority(Math.Max(2, Environment.ProcessorCount), "blueback-backup-read", config.BackupReadNice ?? BackgroundPriority.DefaultNice);
        using var restores = new RestoreSessions(host, sessions, TimeSpan.FromSeconds(config.BackupLeaseSeconds ?? 60), logger, config.Limits.MaxRestoreSessions);
        using var loads = new Loads.LoadSessions(host, TimeSpan.FromSeconds(config.BackupLeaseSeconds ?? 60), logger, config.Limits.MaxRestoreSessions);
        using var exporter = new PrometheusExporter();
        var shippers = new Shipping.ShipperLeases(TimeSpan.FromSeconds(config.ShipperLeaseSeconds ?? 10));
        using var standby = options.Standby is { } so ? new Standby.StandbyFollower(host, so, logger) : null;
        using var rates = new RateHistory(host, metrics);
        var hosted = config.Instances.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        using var policies = new Policies.PolicyRunner(new Policies.PolicyStore(options.DataDirectory), config.Policies,
            new Policies.PolicyHostInfo("unix:" + internalSocket, tokens.CreateEphemeral("policies (this server's own programs)", Security.Role.Backup), Policies.ChildProgram.Command(config.ProgramPath), () => pacing.Busy,
                tokens.CreateEphemeral("policies' restores (asked for by an operator)", Security.Role.Restore)),
            hosted.Contains, instance => sessions.Running().FirstOrDefault(s => s.Backup.InstanceName == instance)?.BytesSent, logger, config.AllowShortSchedules);
        metrics.AddPolicies(policies);
        metrics.AddPacing(pacing);
        using var browser = new Browsing.SetBrowser(options.DataDirectory, Browsing.BrowseSettings.Of(config), logger);
        policies.SetsChanged = browser.Retain; // a forgotten set, a policy replaced or removed: its mounts close
        metrics.AddBrowse(browser);
        using var webhook = config.Notifications?.Webhook is { } hook ? new AlertWebhook(hook, logger) : null;
        using var mail = config.Notifications?.Mail is { } m ? new AlertMail(m, logger) : null;
        using var alerts = new AlertBook(options.DataDirectory, () => ConsoleEndpoints.Alerts(host, policies, shippers, repair), new AlertNotifier?[] { webhook, mail }.OfType<AlertNotifier>().ToList(), logger);
        ApiDocument.AddServices(builder.Services);
        var app = builder.Build();
        await using (app.ConfigureAwait(false))
        {
            app.Use(async (ctx, next) =>
            {
                if (IsDataRequest(ctx.Request.Path))
                {
                    using (pacing.BeginForeground())
                    {
                        await next(ctx).ConfigureAwait(false);
                    }
                }
                else
                {
                    await next(ctx).ConfigureAwait(false);
                }
                var route = ctx.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? "unmatched";
                metrics.Request(ctx.Request.Method, route, ctx.Response.StatusCode);
            });
            if (options.Mount is { } mounted)
            {
                // A mount serves one set's reads: no restore may add an instance beside it (writes to the set itself
                // are refused by its instance). Before authentication: the route is not there for any token.
                app.Use(async (ctx, next) =>
                {
                    // POST /v1/instances/{instance}/restores or /loads: an online restore or a staged load.
                    var segments = (ctx.Request.Path.Value ?? "").Split('/', StringSplitOptions.RemoveEmptyEntries);
                    if (HttpMethods.IsPost(ctx.Request.Method) && segments is ["v1", "instances", _, "restores" or "loads"])
                    {
                        await Problems.Of(StatusCodes.Status409Conflict, "Mounted backup set", $"This server serves the mounted backup set of instance '{mounted.Instance}' read-only: a restore or load is refused. Restore into a server started with 'blueback serve'.").ExecuteAsync(ctx).ConfigureAwait(false);
                        return;
                    }
                    await next(ctx).ConfigureAwait(false);
                });
            }
            Security.Authentication.Use(app, tokens, metrics, logger);
            InstanceGate.Use(app, host);
            var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
            var api = app.MapGroup(""); // every route, so that ApiDocument describes each as it is built
            ApiDocument.Describe(api);
            DataEndpoints.Map(api, host, lifetime, config.Limits.MaxBatchBodyBytes);
            BackupEndpoints.Map(api, host, sessions, metrics, lifetime, backupReads, pacing);
            RestoreEndpoints.Map(api, host, restores);
            Loads.LoadEndpoints.Map(api, loads, lifetime);
            Shipping.ShippingEndpoints.Map(api, host, shippers, lifetime, backupReads);
            Standby.StandbyEndpoints.Map(api, host, standby);
            Security.TokenEndpoints.Map(api, tokens);
            Policies.PolicyEndpoints.Map(api, policies);
            Browsing.BrowseEndpoints.Map(api, policies, browser, lifetime);
            ConsoleEndpoints.Map(api, alerts, rates);
            Console.UiEndpoints.Map(api);
            StatusEndpoints.Map(api, host, exporter, shippers, name => standby is not null && standby.Instance == name ? standby.Status() : null, DateTime.UtcNow,
                name => options.Mount is { } m && m.Instance == name ? m.Status() : null);
            ApiDocument.Map(app);
            app.MapFallback((HttpContext ctx) => Problems.NotFound($"No route {ctx.Request.Method} {ctx.Request.Path}. The API is under /v1 (see docs/server.md)."));

            try
            {
                await app.StartAsync(stop).ConfigureAwait(false);
            }
            catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException || ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                throw new ServerConfigException($"{ex.Message.TrimEnd('.')}: another program (another Blueback server?) listens there. Stop it, or give this server another address with --listen (port 0 picks a free one).");
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                // Kestrel's message names the address (a Unix socket's path); binding a socket fails on some file systems (FUSE).
                throw new ServerConfigException($"Cannot listen: {ex.Message} For a Unix socket (--unix PATH), choose a path on a local file system (some, such as FUSE, refuse sockets).");
            }
            standby?.Start();
            policies.Start();
            var addresses = (app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []).Where(a => !a.Contains(internalSocket.TrimStart('@'), StringComparison.Ordinal)).ToList();
            output.WriteLine($"Blueback server, data in {host.DataDirectory}");
            foreach (var a in addresses)
            {
                output.WriteLine($"Listening on {a}");
            }
            foreach (var slot in host.Slots)
            {
                output.WriteLine(slot.Instance is { } inst
                    ? $"Serving instance {inst.Name}: {string.Join(", ", inst.Databases.Select(d => d.Name))}{(inst.LastRecovery is { WasClean: false } r ? $" (recovered {r.TransactionsReplayed} transactions after an unclean stop)" : "")}"
                    : $"NOT serving instance {slot.Name}: {slot.Unavailable}");
            }
            foreach (var ic in host.Config.Instances.Where(i => i.FaultDrills is { Count: > 0 }))
            {
                output.WriteLine($"WARNING: failure drills on instance {ic.Name} (faultDrills): {string.Join("; ", ic.FaultDrills!.Select(d => d.Describe()))}. Its disk I/O fails on purpose; not for data you keep.");
            }
            if (policies.Count > 0)
            {
                output.WriteLine($"Running {policies.Count} backup polic{(policies.Count == 1 ? "y" : "ies")}; the console is at /ui.");
            }
            output.WriteLine("Ready. Ctrl+C or SIGTERM stops gracefully; a second signal exits at once.");
            output.Flush();
            options.Listening?.Invoke(addresses);

            var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (stop.Register(() => stopped.TrySetResult()))
            {
                await stopped.Task.ConfigureAwait(false);
            }
            var sw = Stopwatch.StartNew();
            output.WriteLine($"Stopping (bound {shutdown.TotalSeconds:0.#} s): draining requests, then closing instances.");
            output.Flush();
            // The policies' programs first, while the server still answers them: each aborts its backup and removes its
            // partial set (bounded: a program that does not stop in time is killed, and its set was never committed).
            policies.Dispose();
            // Requests get most of the bound; closing the instances (a checkpoint each) the rest.
            using (var drain = new CancellationTokenSource(shutdown * 0.7))
            {
                await app.StopAsync(drain.Token).ConfigureAwait(false);
            }
            standby?.Dispose(); // the apply in progress ends its batch; a starting restore is cancelled
            restores.Dispose(); // running restores are aborted (their instances left offline, or as they were)
            sessions.Dispose(); // running backups are aborted before their instances close
            host.Dispose();
            output.WriteLine($"Stopped cleanly in {sw.ElapsedMilliseconds} ms; databases marked clean.");
            output.Flush();
        }
    }

    /// <summary>Refuses a TCP port another program listens on, before anything is created (Kestrel's own refusal came
    /// after the data directory and a token were made, as a 3,000-character stack trace).</summary>
    private static void CheckPortsFree(IEnumerable<string> listen)
    {
        foreach (var url in listen)
        {
            var (host, port, _) = ParseUrl(url);
            if (port == 0)
            {
                continue;
            }
            var address = host switch
            {
                "localhost" => IPAddress.Loopback,
                "*" or "+" or "0.0.0.0" => IPAddress.Any,
                _ => IPAddress.Parse(host.Trim('[', ']')),
            };
            var probe = new System.Net.Sockets.TcpListener(address, port);
            try
            {
                // As Kestrel binds: a port whose last server just stopped (connections in TIME_WAIT) is free.
                probe.Server.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
                probe.Start();
            }
            catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
            {
                throw new ServerConfigException($"Port {port} ({url}) is in use by another program (another Blueback server?). Stop it, or give this server another address with --listen http://127.0.0.1:PORT (port 0 picks a free one).");
            }
            catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AccessDenied)
            {
                throw new ServerConfigException($"Listening on {url} is not allowed for this user ({ex.Message}): ports below 1024 need privileges. Use a port above 1024.");
            }
            catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressNotAvailable)
            {
                throw new ServerConfigException($"Cannot listen on {url}: {address} is not an address of this machine. Give one of its addresses, 127.0.0.1, or * for every interface.");
            }
            finally
            {
                probe.Stop();
            }
        }
    }

    private static void Listen(KestrelServerOptions k, ServeOptions options, TextWriter output)
    {
        var certificate = LoadCertificate(options);
        foreach (var url in options.Listen)
        {
            var (host, port, tls) = ParseUrl(url);
            if (tls && certificate is null)
            {
                throw new ServerConfigException($"'{url}' asks for TLS: give the certificate and key with --tls-cert FILE --tls-key FILE (PEM).");
            }
            bool loopback = host is "localhost" || (host is not ("*" or "+" or "0.0.0.0") && IPAddress.IsLoopback(IPAddress.Parse(host.Trim('[', ']'))));
            if (!loopback && options.Mount is { TokenFile: null })
            {
                throw new ServerConfigException($"'{url}' is not loopback: a mounted backup set is served beyond this machine only to the tokens of a file. Give --token-file F (a server's tokens.json, or tokens one per line), or listen on 127.0.0.1.");
            }
            if (!tls && !loopback)
            {
                if (!options.InsecureListen)
                {
                    throw new ServerConfigException($"'{url}' is not loopback and has no TLS: tokens and data would cross the network in clear text. Listen on https:// with --tls-cert and --tls-key, or pass --insecure-listen to accept the risk.");
                }
                output.WriteLine($"WARNING: listening on {url} without TLS (--insecure-listen): anyone on the network path can read tokens and data.");
            }
            Action<ListenOptions> configure = l =>
            {
                if (tls)
                {
                    l.UseHttps(certificate!);
                }
            };
            if (host is "localhost")
            {
                k.ListenLocalhost(port, configure);
            }
            else if (host is "*" or "+" or "0.0.0.0")
            {
                k.ListenAnyIP(port, configure);
            }
            else
            {
                k.Listen(IPAddress.Parse(host.Trim('[', ']')), port, configure);
            }
        }
        if (options.UnixSocket is { } socket)
        {
            var full = Path.GetFullPath(socket);
            if (File.Exists(full))
            {
                File.Delete(full); // a socket file left by a process that is gone; binding would fail on it
            }
            k.ListenUnixSocket(full);
        }
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2? LoadCertificate(ServeOptions options)
    {
        if (options.TlsCertificate is null && options.TlsKey is null)
        {
            return null;
        }
        if (options.TlsCertificate is null || options.TlsKey is null)
        {
            throw new ServerConfigException("TLS needs both --tls-cert FILE and --tls-key FILE (PEM).");
        }
        try
        {
            return System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(options.TlsCertificate, options.TlsKey);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or ArgumentException)
        {
            throw new ServerConfigException($"Cannot load the TLS certificate '{options.TlsCertificate}' with key '{options.TlsKey}': {ex.Message}. Both must be PEM, the key matching the certificate.");
        }
    }

    /// <summary>http(s)://HOST:PORT with HOST an IP address, localhost or * (every interface).</summary>
    public static (string Host, int Port, bool Tls) ParseUrl(string url)
    {
        bool tls = url.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        if (!tls && !url.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            throw new ServerConfigException($"'{url}' is not an http://HOST:PORT or https://HOST:PORT address.");
        }
        var rest = url[(tls ? "https://" : "http://").Length..].TrimEnd('/');
        int colon = rest.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(rest[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 0 or > 65535)
        {
            throw new ServerConfigException($"'{url}' has no valid port: use http(s)://HOST:PORT.");
        }
        var host = rest[..colon];
        if (host is not ("localhost" or "*" or "+") && !IPAddress.TryParse(host.Trim('[', ']'), out _))
        {
            throw new ServerConfigException($"'{url}': the host must be an IP address, localhost or *.");
        }
        return (host, port, tls);
    }

    /// <summary>A host lifetime that leaves signals alone.</summary>
    private sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
