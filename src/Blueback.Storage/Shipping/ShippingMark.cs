using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.IO;

namespace Blueback.Storage.Shipping;

/// <summary>What the instance remembers of log shipping, across restarts (<c>shipping.json</c> in the instance
/// directory): that a shipper ships this instance into a repository, and the last generation the repository holds
/// durably. While it exists, no generation after <see cref="ShippedThrough"/> is ever deleted: a stalled or stopped
/// shipper never loses a commit.</summary>
public sealed class ShippingMark
{
    public const string FileName = "shipping.json";

    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    /// <summary>The last generation the repository holds (every one up to it, from the chain's full set on).</summary>
    [JsonPropertyName("shippedThrough")] public uint ShippedThrough { get; set; }
    [JsonPropertyName("since")] public DateTime Since { get; set; }
    [JsonPropertyName("lastShipped")] public DateTime? LastShipped { get; set; }

    public static string PathIn(string instanceDirectory) => Path.Combine(instanceDirectory, FileName);

    public static ShippingMark? Read(string instanceDirectory)
    {
        var path = PathIn(instanceDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ShippingJson.Default.ShippingMark);
        }
        catch (JsonException ex)
        {
            throw new StorageException($"The shipping mark '{path}' is damaged ({ex.Message}). Until it is fixed the instance cannot tell which log generations a shipper still needs: remove it only after a full backup, then start 'blueback ship' again.");
        }
    }

    /// <summary>Durably: temporary file, flush, rename, directory flush.</summary>
    public void Write(string instanceDirectory) =>
        FileSystem.WriteAtomic(PathIn(instanceDirectory), JsonSerializer.SerializeToUtf8Bytes(this, ShippingJson.Default.ShippingMark));

    public static void Delete(string instanceDirectory)
    {
        var path = PathIn(instanceDirectory);
        if (File.Exists(path))
        {
            File.Delete(path);
            FileSystem.SyncDirectory(instanceDirectory);
        }
    }

    public ShippingMark Clone() => (ShippingMark)MemberwiseClone();
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(ShippingMark))]
internal sealed partial class ShippingJson : JsonSerializerContext;
