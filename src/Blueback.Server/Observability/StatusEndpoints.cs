using System.Reflection;
using Blueback.Protocol;
using Blueback.Server.Instances;
using Blueback.Storage;
using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Blueback.Server.Observability;

/// <summary>Status, health and metrics.</summary>
internal static class StatusEndpoints
{
    public static void Map(IEndpointRouteBuilder app, InstanceHost host, PrometheusExporter exporter, Shipping.ShipperLeases shippers, Func<string, StandbyStatus?> standbyOf, DateTime started, Func<string, MountStatus?>? mountOf = null)
    {
        app.MapGet(Routes.Health, () => Results.Text("ok\n")).WithName("health");
        exporter.Map(app).WithName("metrics");
        app.MapGet(Routes.Status, () => Results.Json(Build(host, shippers, standbyOf, mountOf, started), ProtocolJson.Default.StatusResponse)).WithName("status");
    }

    private static StatusResponse Build(InstanceHost host, Shipping.ShipperLeases shippers, Func<string, StandbyStatus?> standbyOf, Func<string, MountStatus?>? mountOf, DateTime started)
    {
        var s = new StatusResponse
        {
            Server = Environment.MachineName,
            Version = typeof(StatusEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "dev",
            Started = started,
        };
        foreach (var slot in host.Slots)
        {
            if (!slot.TryEnter(out var inst))
            {
                s.Instances.Add(new InstanceStatus { Name = slot.Name, State = slot.State == InstanceState.Restoring ? "restoring" : "offline", Detail = slot.Unavailable, Standby = standbyOf(slot.Name) });
                continue;
            }
            try
            {
                var described = Describe(inst, shippers);
                described.Standby = standbyOf(slot.Name);
                if (inst.Standby is not null)
                {
                    described.State = "standby";
                }
                if (mountOf?.Invoke(slot.Name) is { } mounted)
                {
                    described.State = "mounted";
                    described.Mount = mounted;
                }
                s.Instances.Add(described);
            }
            finally
            {
                slot.Leave();
            }
        }
        return s;
    }

    private static InstanceStatus Describe(StorageInstance inst, Shipping.ShipperLeases shippers)
    {
        var gens = LogFiles.List(inst.LogDirectory);
        var rec = inst.LastRecovery;
        var i = new InstanceStatus
        {
            Name = inst.Name,
            State = inst.IsPoisoned ? "stopped-after-error" : "online",
            BackupInProgress = inst.RunningBackup is not null,
            Shipping = ShippingOf(inst, shippers),
            CircularLogging = inst.Options.CircularLogging,
            LogSignature = inst.LogSignature.Id.ToString("N"),
            PagesRepaired = inst.PagesRepaired,
            Checkpoint = inst.CheckpointLsn.ToString(),
            LogPosition = inst.LogPosition.ToString(),
            OldestGeneration = gens.Count > 0 ? gens[0] : 0,
            CurrentGeneration = inst.CurrentGeneration,
            LastOpen = rec is null ? null : new OpenStatus
            {
                Clean = rec.WasClean,
                TransactionsReplayed = rec.TransactionsReplayed,
                RecoveredFrom = rec.From.ToString(),
                RecoveredTo = rec.To.ToString(),
            },
        };
        foreach (var db in inst.Databases)
        {
            var h = db.Header;
            var d = new DatabaseStatus
            {
                Name = db.Name,
                SizeBytes = db.SizeBytes,
                PageSize = db.PageSize,
                State = h.State.ToString(),
            };
            Add(d, BackupType.Full.Name(), h.LastFull);
            Add(d, BackupType.Incremental.Name(), h.LastIncremental);
            Add(d, BackupType.Differential.Name(), h.LastDifferential);
            Add(d, BackupType.Copy.Name(), h.LastCopy);
            i.Databases.Add(d);
        }
        return i;
    }

    internal static ShippingStatus? ShippingOf(StorageInstance inst, Shipping.ShipperLeases shippers)
    {
        if (inst.ShippingNow() is not { } state)
        {
            return null;
        }
        var (connected, lastSeen) = shippers.Of(inst.Name);
        return new ShippingStatus
        {
            Repository = state.Mark.Repository,
            RepositoryId = state.Mark.RepositoryId,
            ShippedThrough = state.Mark.ShippedThrough,
            LastShipped = state.Mark.LastShipped,
            OldestUnshipped = state.OldestUnshipped,
            UnshippedGenerations = state.UnshippedGenerations,
            UnshippedBytes = state.UnshippedBytes,
            LagSeconds = Math.Round(state.Lag.TotalSeconds, 3),
            ShipperConnected = connected,
            ShipperLastSeen = lastSeen,
            LogVolumeFreeBytes = state.LogVolumeFreeBytes,
            Warning = connected ? state.Warning : state.Warning ?? (state.UnshippedGenerations > 0 ? $"no shipper is connected and {state.UnshippedGenerations} generation(s) wait to be shipped (kept on the server): start 'blueback ship'" : null),
        };
    }

    private static void Add(DatabaseStatus d, string type, BackupInfo b)
    {
        if (!b.IsEmpty)
        {
            d.LastBackups[type] = new BackupStatus { Time = new DateTime(b.MarkTicks, DateTimeKind.Utc), GenLow = b.GenLow, GenHigh = b.GenHigh };
        }
    }
}
