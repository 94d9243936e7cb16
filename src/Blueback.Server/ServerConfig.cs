using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.Storage;

namespace Blueback.Server;

/// <summary>The optional JSON config file: which instances and databases the server hosts, and their engine
/// settings. Without one, the server hosts the defaults.</summary>
public sealed class ServerConfig
{
    [JsonPropertyName("instances")]
    public List<InstanceConfig> Instances { get; set; } = [];

    [JsonPropertyName("shutdownTimeoutSeconds")]
    public double? ShutdownTimeoutSeconds { get; set; }

    /// <summary>A backup session whose client makes no call for this long is aborted.</summary>
    [JsonPropertyName("backupLeaseSeconds")]
    public double? BackupLeaseSeconds { get; set; }

    /// <summary>A log shipper that makes no call for this long loses its hold on the instance (another may take it
    /// up; the logs it has not shipped stay kept).</summary>
    [JsonPropertyName("shipperLeaseSeconds")]
    public double? ShipperLeaseSeconds { get; set; }

    /// <summary>The nice value (0 to 19) of the threads that read and check pages for backups: above 0, the
    /// instance's clients come first and a backup takes the CPU they leave; 19 also puts them in the idle scheduling
    /// class (they run on cores nothing else wants).</summary>
    [JsonPropertyName("backupReadNice")]
    public int? BackupReadNice { get; set; }

    /// <summary>While the instance's clients are making data requests, backup streams together send at most this
    /// many MB (10^6 bytes) per second, and less when the clients' requests take longer for it; 0 lifts the limit
    /// (no pacing at all). An idle server sends at full speed.</summary>
    [JsonPropertyName("backupBusyRateMBps")]
    public double? BackupBusyRateMBps { get; set; }

    /// <summary>The least backup streams together send (MB per second) while the clients are busy, however much
    /// longer their requests take for it.</summary>
    [JsonPropertyName("backupBusyFloorMBps")]
    public double? BackupBusyFloorMBps { get; set; }

    /// <summary>The lowest rate either setting takes (a mebibyte's wait at it is under two minutes).</summary>
    public const double MinBackupRateMBps = 0.01;

    [JsonPropertyName("limits")]
    public ServerLimits Limits { get; set; } = new();

    /// <summary>A backup set the console browses is closed after this long unused (default 120).</summary>
    [JsonPropertyName("browseIdleSeconds")]
    public double? BrowseIdleSeconds { get; set; }

    /// <summary>Sets open for browsing at once (default 2); opening another closes the least recently used.</summary>
    [JsonPropertyName("browseMaxOpen")]
    public int? BrowseMaxOpen { get; set; }

    /// <summary>The chunk cache on disk of each set open for browsing, in bytes (default 256 MiB, at least 16 MiB).</summary>
    [JsonPropertyName("browseCacheMaxBytes")]
    public long? BrowseCacheMaxBytes { get; set; }

    /// <summary>Backup policies the server runs by itself (docs/console.md).</summary>
    [JsonPropertyName("policies")]
    public List<Protocol.PolicyDefinition> Policies { get; set; } = [];

    /// <summary>Where alerts are sent (a webhook): docs/console.md.</summary>
    [JsonPropertyName("notifications")]
    public NotificationsConfig? Notifications { get; set; }

    /// <summary>The <c>blueback</c> program that policies run (default: the program serving, as it was started).</summary>
    [JsonPropertyName("programPath")]
    public string? ProgramPath { get; set; }

    /// <summary>Lets policies take backups more often than <see cref="Policies.PolicyRules.MinimumFull"/> and
    /// <see cref="Policies.PolicyRules.MinimumIncremental"/> (tests and drills; a full every few seconds is a mistake anywhere else).</summary>
    [JsonPropertyName("allowShortSchedules")]
    public bool AllowShortSchedules { get; set; }

    /// <summary>Lets instances declare <see cref="InstanceConfig.FaultDrills"/>: a second key, so that a drill copied
    /// into a production config does not fail a disk by itself.</summary>
    [JsonPropertyName("allowFaultDrills")]
    public bool AllowFaultDrills { get; set; }

    /// <summary>Where a page that fails its checksum in a read is repaired from: a warm standby's address, or a backup
    /// repository's location (docs/engine.md, "Pages that repair themselves"); null: the read fails, as it always did.</summary>
    [JsonPropertyName("repairFrom")]
    public string? RepairFrom { get; set; }

    /// <summary>A file holding a token of the standby named by <see cref="RepairFrom"/> (role backup or admin).</summary>
    [JsonPropertyName("repairTokenFile")]
    public string? RepairTokenFile { get; set; }

    /// <summary>How to open the repository <see cref="RepairFrom"/> names (S3 settings, key file).</summary>
    [JsonPropertyName("repairRepository")]
    public Repair.RepairRepositoryConfig? RepairRepository { get; set; }

    public static ServerConfig Default() => new()
    {
        Instances =
        [
            new InstanceConfig { Name = "store", Databases = [new DatabaseConfig { Name = "mailbox" }, new DatabaseConfig { Name = "public" }] },
            new InstanceConfig { Name = "directory", Databases = [new DatabaseConfig { Name = "directory" }] },
        ],
    };

    /// <summary>Reads and checks a config file: an unknown key, a value of the wrong type or out of range, or an absurd
    /// schedule is refused naming the key and its line.</summary>
    public static ServerConfig Load(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ServerConfigException($"Config file '{path}' does not exist.");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ServerConfigException($"Config file '{path}' cannot be read: {ex.Message}");
        }
        var config = StrictJson.Parse(json, ServerConfigJson.Default.ServerConfig, $"Config file '{path}'");
        if (config.Instances.Count == 0)
        {
            throw new ServerConfigException($"Config file '{path}' declares no instances; declare at least one under \"instances\".");
        }
        try
        {
            config.Validate($"Config file '{path}'");
        }
        catch (ServerConfigException ex) when (ex.Key is { } key && StrictJson.LineOf(json, key) is { } line)
        {
            throw new ServerConfigException($"Config file '{path}', line {line} (\"{key}\"): {ex.Message}") { Key = key };
        }
        return config;
    }

    /// <summary>A policy's JSON (<c>policy set</c>, PUT /v1/policies/NAME) read as strictly as the config file.</summary>
    public static Protocol.PolicyDefinition ParsePolicy(string json, string where) => StrictJson.Parse(json, ServerConfigJson.Default.PolicyDefinition, where);

    /// <summary>Checks every value; <paramref name="where"/> begins each message ("Config file 'PATH'").</summary>
    internal void Validate(string where)
    {
        var l = Limits;
        if (l.MaxConnections < 1 || l.MaxRequestHeadersBytes < 1024 || l.RequestHeadersTimeoutSeconds <= 0 || l.KeepAliveTimeoutSeconds <= 0
            || l.MinRequestBodyBytesPerSecond < 0 || l.MaxRestoreSessions < 1 || l.MaxBackupSessions < 1 || l.MaxBatchBodyBytes is < 65536 or > 1L << 30)
        {
            throw new ServerConfigException($"{where}: a value under \"limits\" is out of range (connections and sessions at least 1, headers at least 1 KiB, times above 0, batch body 64 KiB to 1 GiB).");
        }
        if (BackupBusyRateMBps is < 0 or (> 0 and < MinBackupRateMBps))
        {
            throw new ServerConfigException($"{where}: \"backupBusyRateMBps\" is {BackupBusyRateMBps}; give a rate in MB/s of at least {MinBackupRateMBps}, or 0 for no limit.");
        }
        double ceiling = BackupBusyRateMBps ?? BluebackServer.DefaultBackupBusyRateMBps;
        if (BackupBusyFloorMBps is < MinBackupRateMBps || (ceiling > 0 && BackupBusyFloorMBps > ceiling))
        {
            throw new ServerConfigException($"{where}: \"backupBusyFloorMBps\" is {BackupBusyFloorMBps}; give a rate in MB/s of at least {MinBackupRateMBps} and at most \"backupBusyRateMBps\" ({ceiling}).");
        }
        if (BrowseIdleSeconds is <= 0 || BrowseMaxOpen is < 1 || BrowseCacheMaxBytes < Backup.Mounting.ChunkCache.MinBytes)
        {
            throw new ServerConfigException($"{where}: \"browseIdleSeconds\" must be above 0, \"browseMaxOpen\" at least 1 and \"browseCacheMaxBytes\" at least {Backup.Mounting.ChunkCache.MinBytes} (16 MiB).");
        }
        if (BackupReadNice is < 0 or > 19)
        {
            throw new ServerConfigException($"{where}: \"backupReadNice\" is {BackupReadNice}; give a nice value from 0 (normal priority) to 19 (the lowest).");
        }
        if (Repair.RepairRepositoryConfig.Check(RepairFrom, RepairTokenFile, where)?.Repository is null && RepairRepository is not null)
        {
            throw new ServerConfigException($"{where}: \"repairRepository\" says how to open a repository, but \"repairFrom\" names none; give the repository's location in \"repairFrom\" (a directory or s3://BUCKET/PREFIX), or remove it.") { Key = "repairRepository" };
        }
        RepairRepository?.Validate(where);
        Notifications?.Validate(where);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in Instances)
        {
            if (!Names.IsValid(i.Name))
            {
                throw new ServerConfigException($"{where}: instance name '{i.Name}' is not valid (1 to 64 letters, digits, '-', '_', '.').");
            }
            if (!names.Add(i.Name))
            {
                throw new ServerConfigException($"{where}: instance '{i.Name}' is declared twice.");
            }
            if (i.Databases.Count == 0)
            {
                throw new ServerConfigException($"{where}: instance '{i.Name}' declares no databases.");
            }
            foreach (var d in i.Databases.Where(d => !Names.IsValid(d.Name)))
            {
                throw new ServerConfigException($"{where}: database name '{d.Name}' in instance '{i.Name}' is not valid.");
            }
            if (i.FaultDrills is { Count: > 0 } drills)
            {
                if (!AllowFaultDrills)
                {
                    throw new ServerConfigException($"{where}: instance '{i.Name}' declares \"faultDrills\", which fail or delay its disk I/O on purpose. Run them only on a server meant for drills, with \"allowFaultDrills\": true at the top of its config; otherwise remove them.");
                }
                foreach (var d in drills)
                {
                    d.Validate($"{where}, instance '{i.Name}'");
                }
            }
        }
        var policies = new HashSet<string>(StringComparer.Ordinal);
        for (int n = 0; n < Policies.Count; n++)
        {
            var p = Policies[n];
            try
            {
                Blueback.Server.Policies.PolicyRules.Validate(p, names.Contains, where, AllowShortSchedules);
            }
            catch (ServerConfigException ex) when (ex.Key is { } key)
            {
                throw new ServerConfigException(ex.Message) { Key = $"policies[{n}].{key}" };
            }
            if (!policies.Add(p.Name))
            {
                throw new ServerConfigException($"{where}: policy '{p.Name}' is declared twice.");
            }
        }
    }
}

/// <summary>What one client may take from the server. Every limit has a default; a config file may change any.</summary>
public sealed class ServerLimits
{
    /// <summary>Connections open at once; more wait in the kernel's backlog.</summary>
    [JsonPropertyName("maxConnections")] public long MaxConnections { get; set; } = 1000;
    /// <summary>All of a request's headers together.</summary>
    [JsonPropertyName("maxRequestHeadersBytes")] public int MaxRequestHeadersBytes { get; set; } = 32 * 1024;
    /// <summary>A request's headers must arrive within this (a slow-loris client is cut off after it).</summary>
    [JsonPropertyName("requestHeadersTimeoutSeconds")] public double RequestHeadersTimeoutSeconds { get; set; } = 15;
    /// <summary>An idle keep-alive connection is closed after this.</summary>
    [JsonPropertyName("keepAliveTimeoutSeconds")] public double KeepAliveTimeoutSeconds { get; set; } = 120;
    /// <summary>A body must arrive at no less than this many bytes per second (after a grace of 5 s).</summary>
    [JsonPropertyName("minRequestBodyBytesPerSecond")] public double MinRequestBodyBytesPerSecond { get; set; } = 240;
    /// <summary>Restore sessions running at once.</summary>
    [JsonPropertyName("maxRestoreSessions")] public int MaxRestoreSessions { get; set; } = 4;
    /// <summary>Backup sessions running at once over all instances (one per instance in any case).</summary>
    [JsonPropertyName("maxBackupSessions")] public int MaxBackupSessions { get; set; } = 8;
    /// <summary>A batch request's body (its values base64-encoded, and the JSON around them).</summary>
    [JsonPropertyName("maxBatchBodyBytes")] public long MaxBatchBodyBytes { get; set; } = Protocol.Routes.Limits.MaxBatchBodyBytes;
}

public sealed class InstanceConfig
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("databases")]
    public List<DatabaseConfig> Databases { get; set; } = [];

    [JsonPropertyName("logGenerationSize")]
    public int? LogGenerationSize { get; set; }

    [JsonPropertyName("cacheSize")]
    public long? CacheSize { get; set; }

    [JsonPropertyName("circularLogging")]
    public bool CircularLogging { get; set; }

    /// <summary>Failure drills (with <see cref="ServerConfig.AllowFaultDrills"/>): I/O of this instance that fails or
    /// is delayed on purpose, counted afresh each time the server opens it (docs/server.md).</summary>
    [JsonPropertyName("faultDrills")]
    public List<FaultDrill>? FaultDrills { get; set; }

    public InstanceOptions ToOptions()
    {
        var o = new InstanceOptions { Name = Name, CircularLogging = CircularLogging, Faults = FaultDrill.Build(FaultDrills) };
        if (LogGenerationSize is { } g)
        {
            o = o with { LogGenerationSize = g };
        }
        if (CacheSize is { } c)
        {
            o = o with { CacheSize = c };
        }
        return o;
    }
}

public sealed class DatabaseConfig
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("pageSize")]
    public int? PageSize { get; set; }
}

public sealed class ServerConfigException(string message) : Exception(message)
{
    /// <summary>The key the error is about, as a path ("policies[0].full"), where it is one key's.</summary>
    public string? Key { get; init; }
}

internal static class Names
{
    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 64 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}

[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ServerConfig))]
[JsonSerializable(typeof(Protocol.PolicyDefinition))]
internal sealed partial class ServerConfigJson : JsonSerializerContext;
