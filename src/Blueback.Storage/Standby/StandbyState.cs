using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.IO;

namespace Blueback.Storage.Standby;

/// <summary>Where a warm standby stands (<c>standby.json</c> beside its restore record, which names the log stream
/// and the databases): replay restarts from <see cref="Restart"/> after a crash (every page changed after it has a
/// whole image in the log after it), and <see cref="AppliedThrough"/> is the last generation applied.</summary>
public sealed class StandbyState
{
    public const string FileName = "standby.json";

    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    [JsonPropertyName("sourceInstance")] public string SourceInstance { get; set; } = "";
    [JsonPropertyName("restart")] public ulong Restart { get; set; }
    [JsonPropertyName("appliedThrough")] public uint AppliedThrough { get; set; }
    /// <summary>Where the applied log ends (no transaction open there).</summary>
    [JsonPropertyName("end")] public ulong End { get; set; }
    [JsonPropertyName("lastCommit")] public DateTime? LastCommit { get; set; }
    [JsonPropertyName("transactionsApplied")] public long TransactionsApplied { get; set; }
    [JsonPropertyName("lastApplied")] public DateTime? LastApplied { get; set; }
    /// <summary>Set once promoted: the instance is a primary of its own new log stream from then on.</summary>
    [JsonPropertyName("promoted")] public DateTime? Promoted { get; set; }
    [JsonPropertyName("newLogSignature")] public string? NewLogSignature { get; set; }
    [JsonPropertyName("oldLogs")] public string? OldLogs { get; set; }

    public static string PathIn(string instanceDirectory) => Path.Combine(instanceDirectory, FileName);

    public static StandbyState? Read(string instanceDirectory)
    {
        var path = PathIn(instanceDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), StandbyJson.Default.StandbyState);
        }
        catch (JsonException ex)
        {
            throw new StorageException($"The standby state '{path}' is damaged ({ex.Message}). Start the standby again in a new directory (it restores the latest full set and follows from there).");
        }
    }

    public void Write(string instanceDirectory) =>
        FileSystem.WriteAtomic(PathIn(instanceDirectory), JsonSerializer.SerializeToUtf8Bytes(this, StandbyJson.Default.StandbyState));
}

/// <summary>A write to a standby, or something only a primary does (a backup, shipping): refused, saying so.</summary>
public sealed class StandbyException(string message) : StorageException(message);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(StandbyState))]
internal sealed partial class StandbyJson : JsonSerializerContext;
