using System.Text.Json.Serialization;

namespace Blueback.Repository;

/// <summary>What a backup set holds. Written last; a set without a committed manifest does not exist.</summary>
public sealed class Manifest
{
    [JsonPropertyName("formatVersion")] public int FormatVersion { get; set; } = BackupRepository.FormatVersion;
    [JsonPropertyName("repositoryId")] public string RepositoryId { get; set; } = "";
    [JsonPropertyName("setId")] public string SetId { get; set; } = "";
    [JsonPropertyName("parentSetId")] public string? ParentSetId { get; set; }
    [JsonPropertyName("instance")] public string Instance { get; set; } = "";
    [JsonPropertyName("server")] public string Server { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("started")] public DateTime Started { get; set; }
    [JsonPropertyName("ended")] public DateTime Ended { get; set; }
    /// <summary>Every transaction committed at or before this time is in the set's logs (taken just before the
    /// server closed the set's last generation); restore uses it to pick the sets a stop time needs.</summary>
    [JsonPropertyName("logsCover")] public DateTime? LogsCover { get; set; }
    [JsonPropertyName("logSignature")] public string LogSignature { get; set; } = "";
    [JsonPropertyName("genLow")] public uint GenLow { get; set; }
    [JsonPropertyName("genHigh")] public uint GenHigh { get; set; }
    [JsonPropertyName("codec")] public string Codec { get; set; } = "";
    /// <summary>A changed-pages incremental or differential: each database's pages changed since the start of this
    /// generation (the first of its page base: the nearest set of its chain that holds pages) are in the set
    /// (<c>databases/NAME.pages</c>), or its whole image where they could not be known; the set's logs start at its own
    /// checkpoint. Null for every other set.</summary>
    [JsonPropertyName("changedSince")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public uint? ChangedSince { get; set; }
    /// <summary>A full set that did not read again the pages unchanged since this set began (the server's page maps said
    /// which): their chunks are that set's. Their checksums were checked when that set (or the one it names) read them.
    /// Null when every page was read.</summary>
    [JsonPropertyName("unchangedFrom")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? UnchangedFrom { get; set; }
    /// <summary>Why a database of a changed-pages set is held whole (one line each); null when none is.</summary>
    [JsonPropertyName("wholeImages")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? WholeImages { get; set; }
    /// <summary>Every table's digest at the end of the log range, taken by the server when the backup asked: what a
    /// restore of this set must reproduce (a proof compares them).</summary>
    [JsonPropertyName("tableDigests")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<ManifestTableDigest>? TableDigests { get; set; }
    [JsonPropertyName("databases")] public List<ManifestDatabase> Databases { get; set; } = [];
    [JsonPropertyName("files")] public List<ManifestFile> Files { get; set; } = [];
}

public sealed class ManifestTableDigest
{
    [JsonPropertyName("database")] public string Database { get; set; } = "";
    [JsonPropertyName("table")] public string Table { get; set; } = "";
    [JsonPropertyName("rows")] public long Rows { get; set; }
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
}

public sealed class ManifestDatabase
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("id")] public int Id { get; set; }
    [JsonPropertyName("signature")] public string Signature { get; set; } = "";
    [JsonPropertyName("pageSize")] public int PageSize { get; set; }
}

public sealed class ManifestFile
{
    /// <summary>"databases/NAME.bdb" or "logs/bbXXXXXXXX.log".</summary>
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
    /// <summary>Format 1: the SHA-256 of the whole file. Empty in format 2, which has <see cref="ChunkDigest"/>.</summary>
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
    /// <summary>Format 2: the SHA-256 of the chunks' SHA-256s, in order (<see cref="Blueback.Repository.Chunks.ChunkDigest"/>).</summary>
    [JsonPropertyName("chunkDigest")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ChunkDigest { get; set; }
    [JsonPropertyName("chunks")] public List<ManifestChunk> Chunks { get; set; } = [];

    /// <summary>What the file's bytes are checked against: the chunk digest (format 2) or the flat SHA-256.</summary>
    [JsonIgnore] public string Digest => ChunkDigest ?? Sha256;
}

public sealed class ManifestChunk
{
    [JsonPropertyName("key")] public string Key { get; set; } = "";
    /// <summary>Bytes of the file this chunk holds.</summary>
    [JsonPropertyName("rawSize")] public int RawSize { get; set; }
    [JsonPropertyName("storedSize")] public int StoredSize { get; set; }
    /// <summary>CRC32C of the stored bytes, so a damaged object is found before decompression (format 1; format 2
    /// chunks carry theirs in their trailer).</summary>
    [JsonPropertyName("crc32c")] public uint Crc32C { get; set; }
    /// <summary>The content's SHA-256 (hex), kept in an encrypted repository's manifests (which are sealed), where a
    /// chunk's id is keyed and cannot be turned back into it: a backup program tells the server the hashes its
    /// repository holds, so that those chunks do not cross the wire again. (Unencrypted, the id is the hash.)</summary>
    [JsonPropertyName("hash")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Hash { get; set; }
    /// <summary>The content's SHA-256, while the set is written (format 2): what the file's digest is made of.</summary>
    [JsonIgnore] internal byte[]? ContentHash { get; set; }
}

/// <summary>The manifest file: the manifest's exact JSON text and the SHA-256 of that text.</summary>
public sealed class ManifestEnvelope
{
    [JsonPropertyName("manifest")] public System.Text.Json.JsonElement Manifest { get; set; }
    [JsonPropertyName("sha256")] public string Sha256 { get; set; } = "";
}

public sealed class RepositoryConfig
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("formatVersion")] public int FormatVersion { get; set; }
    [JsonPropertyName("created")] public DateTime Created { get; set; }
    /// <summary>Format 2: how the data key is wrapped, when the repository is encrypted; null when it is not.</summary>
    [JsonPropertyName("encryption")] public Crypto.EncryptionConfig? Encryption { get; set; }
    /// <summary>Set when the repository is immutable (<c>repo init --immutable-days</c>); null when it is not.</summary>
    [JsonPropertyName("immutable")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ImmutabilityConfig? Immutable { get; set; }
}

/// <summary>A forgotten set's tombstone: when, and (format 2) its manifest as it was stored, so that gc keeps the
/// chunks it names through the grace period (a restore may still be reading them).</summary>
public sealed class Tombstone
{
    [JsonPropertyName("forgotten")] public DateTime Forgotten { get; set; }
    [JsonPropertyName("manifest")] public string? Manifest { get; set; }
}

/// <summary>A format-2 set being written: when it began (gc keeps every chunk written since the oldest one began).</summary>
public sealed class PendingMark
{
    [JsonPropertyName("started")] public DateTime Started { get; set; }
}

public sealed class VerifyRecord
{
    [JsonPropertyName("time")] public DateTime Time { get; set; }
    [JsonPropertyName("ok")] public bool Ok { get; set; }
    [JsonPropertyName("problems")] public int Problems { get; set; }
}

/// <summary>The outcome of a proof of a set: its chain restored into scratch, recovered, every page checked, and the
/// tables' digests compared with the ones the backup recorded (null where it recorded none).</summary>
public sealed class ProofRecord
{
    [JsonPropertyName("time")] public DateTime Time { get; set; }
    [JsonPropertyName("ok")] public bool Ok { get; set; }
    [JsonPropertyName("seconds")] public double Seconds { get; set; }
    [JsonPropertyName("chain")] public List<string> Chain { get; set; } = [];
    [JsonPropertyName("pagesChecked")] public long PagesChecked { get; set; }
    [JsonPropertyName("tables")] public int Tables { get; set; }
    [JsonPropertyName("rows")] public long Rows { get; set; }
    /// <summary>True: every table's digest matched the backup's; false: one did not; null: the set has no digests.</summary>
    [JsonPropertyName("digestMatch")] public bool? DigestMatch { get; set; }
    [JsonPropertyName("problems")] public List<string> Problems { get; set; } = [];
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(VerifyRecord))]
[JsonSerializable(typeof(ProofRecord))]
[JsonSerializable(typeof(Manifest))]
[JsonSerializable(typeof(ManifestEnvelope))]
[JsonSerializable(typeof(RepositoryConfig))]
[JsonSerializable(typeof(Tombstone))]
[JsonSerializable(typeof(PendingMark))]
[JsonSerializable(typeof(Chain.ChainEntry))]
internal sealed partial class RepositoryJson : JsonSerializerContext;
