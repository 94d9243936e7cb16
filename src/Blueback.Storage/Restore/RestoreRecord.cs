using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.IO;
using Blueback.Storage.Format;

namespace Blueback.Storage.Restore;

public enum RestoreStatus
{
    /// <summary>Files are being put in place; hard recovery has not begun.</summary>
    NotStarted,
    Running,
    Done,
    Failed,
}

/// <summary>The restore record (the original's Restore.env): what was restored into an instance directory, from
/// where, which log range it needs, where replay is to stop, and how far it got. While it exists and does not say
/// Done, the instance is not opened: an interrupted restore stays visible and is resumed with
/// <c>blueback db recover</c> or restarted with <c>blueback restore</c>.</summary>
public sealed class RestoreRecord
{
    public const string FileName = "restore.json";
    public const int CurrentVersion = 1;

    [JsonPropertyName("formatVersion")] public int FormatVersion { get; set; } = CurrentVersion;
    [JsonPropertyName("status")] public RestoreStatus Status { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }
    /// <summary>Where the files came from: the repository and its sets, oldest first.</summary>
    [JsonPropertyName("repository")] public string Repository { get; set; } = "";
    [JsonPropertyName("sets")] public List<string> Sets { get; set; } = [];
    [JsonPropertyName("sourceInstance")] public string SourceInstance { get; set; } = "";
    [JsonPropertyName("sourceServer")] public string SourceServer { get; set; } = "";
    [JsonPropertyName("logSignatureId")] public Guid LogSignatureId { get; set; }
    [JsonPropertyName("logSignatureTicks")] public long LogSignatureTicks { get; set; }
    /// <summary>The generations every one of which must be present: the full set's first to the last set's last.</summary>
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }
    /// <summary>The last generation of the set holding the database images: replay must pass its end before the
    /// images are consistent, so no stop point may lie before it (0: the same as <see cref="GenHigh"/>).</summary>
    [JsonPropertyName("consistentAfter")] public uint ConsistentAfter { get; set; }
    [JsonPropertyName("databases")] public List<RestoredDatabase> Databases { get; set; } = [];
    [JsonPropertyName("stop")] public string? Stop { get; set; }
    [JsonPropertyName("playForward")] public bool PlayForward { get; set; } = true;
    [JsonPropertyName("upToContiguous")] public bool UpToContiguous { get; set; }
    [JsonPropertyName("created")] public DateTime Created { get; set; }
    [JsonPropertyName("recoveryStarted")] public DateTime? RecoveryStarted { get; set; }
    [JsonPropertyName("recoveryEnded")] public DateTime? RecoveryEnded { get; set; }
    /// <summary>Where the recovered log ends ("GEN:OFFSET"), once done.</summary>
    [JsonPropertyName("end")] public string? End { get; set; }
    [JsonPropertyName("endReason")] public string? EndReason { get; set; }
    [JsonPropertyName("lastCommitTime")] public DateTime? LastCommitTime { get; set; }
    [JsonPropertyName("transactionsReplayed")] public long TransactionsReplayed { get; set; }
    /// <summary>Where generations after the stop point were moved (never deleted: they are a future the operator
    /// chose not to replay, and may want back).</summary>
    [JsonPropertyName("setAside")] public string? SetAside { get; set; }

    [JsonIgnore]
    public Signature LogSignature
    {
        get => new(LogSignatureId, LogSignatureTicks);
        set
        {
            LogSignatureId = value.Id;
            LogSignatureTicks = value.CreatedTicks;
        }
    }

    public static string PathIn(string instanceDirectory) => System.IO.Path.Combine(instanceDirectory, FileName);

    /// <summary>The record in <paramref name="instanceDirectory"/>, or null when there is none.</summary>
    public static RestoreRecord? Read(string instanceDirectory)
    {
        var path = PathIn(instanceDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        RestoreRecord? r;
        try
        {
            r = JsonSerializer.Deserialize(File.ReadAllBytes(path), RestoreJson.Default.RestoreRecord);
        }
        catch (JsonException ex)
        {
            throw new RestoreException($"The restore record '{path}' is not readable ({ex.Message}). Run 'blueback restore' again to restart the restore from the beginning.");
        }
        if (r is null || r.FormatVersion != CurrentVersion)
        {
            throw new RestoreException($"The restore record '{path}' has format version {r?.FormatVersion}, which this version of Blueback does not know (it knows {CurrentVersion}). Use the version that wrote it.");
        }
        return r;
    }

    /// <summary>Writes the record durably (temporary file, flush, rename, directory flush), so a crash leaves the
    /// old record or the new one.</summary>
    public void Write(string instanceDirectory) =>
        FileSystem.WriteAtomic(PathIn(instanceDirectory), JsonSerializer.SerializeToUtf8Bytes(this, RestoreJson.Default.RestoreRecord));
}

/// <summary>A database file put in place by a restore, and what its image's trailer said (kept here because hard
/// recovery clears the trailer page before it replays into the file).</summary>
public sealed class RestoredDatabase
{
    [JsonPropertyName("id")] public ushort Id { get; set; }
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    /// <summary>Relative to the instance directory.</summary>
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("signatureId")] public Guid SignatureId { get; set; }
    [JsonPropertyName("signatureTicks")] public long SignatureTicks { get; set; }
    [JsonPropertyName("trailerChecked")] public bool TrailerChecked { get; set; }
    [JsonPropertyName("imageGenLow")] public uint ImageGenLow { get; set; }
    [JsonPropertyName("imageGenHigh")] public uint ImageGenHigh { get; set; }
    [JsonPropertyName("redoLsn")] public ulong RedoLsn { get; set; }
    [JsonPropertyName("pageCount")] public uint PageCount { get; set; }

    [JsonIgnore]
    public Signature Signature
    {
        get => new(SignatureId, SignatureTicks);
        set
        {
            SignatureId = value.Id;
            SignatureTicks = value.CreatedTicks;
        }
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(RestoreRecord))]
internal sealed partial class RestoreJson : JsonSerializerContext;
