using Blueback.Storage;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Hosting;

/// <summary>The storage instances the server hosts, opened (with soft recovery) or created on start, closed
/// cleanly on shutdown.</summary>
public sealed class InstanceHost : IDisposable
{
    private readonly Dictionary<string, StorageInstance> _instances = new(StringComparer.Ordinal);

    public InstanceHost(string dataDirectory, ServerConfig config, ILogger logger)
    {
        DataDirectory = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(DataDirectory);
        try
        {
            foreach (var ic in config.Instances)
            {
                var dir = Path.Combine(DataDirectory, ic.Name);
                var inst = StorageInstance.OpenOrCreate(dir, ic.ToOptions());
                _instances[ic.Name] = inst;
                foreach (var dc in ic.Databases)
                {
                    if (inst.TryGetDatabase(dc.Name) is null)
                    {
                        inst.CreateDatabase(dc.Name, dc.PageSize);
                        logger.LogInformation("Created database {Database} in instance {Instance}", dc.Name, ic.Name);
                    }
                }
                var rec = inst.LastRecovery;
                if (rec is { WasClean: false })
                {
                    logger.LogWarning("Instance {Instance} was not shut down cleanly: recovery replayed {Transactions} transactions from {From} to {To}", ic.Name, rec.TransactionsReplayed, rec.From, rec.To);
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string DataDirectory { get; }

    public IReadOnlyCollection<StorageInstance> Instances => _instances.Values;

    public StorageInstance? Find(string name) => _instances.GetValueOrDefault(name);

    /// <summary>Closes every instance cleanly (checkpoint, databases marked clean).</summary>
    public void Dispose()
    {
        foreach (var inst in _instances.Values)
        {
            inst.Dispose();
        }
        _instances.Clear();
    }
}
