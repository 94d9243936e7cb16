using Blueback.Client;
using Blueback.Repository.Compression;
using Blueback.Storage.Backup;

namespace Blueback.Backup;

/// <summary>What to back up, and how.</summary>
public sealed record BackupRequest(string Instance, BackupType Type)
{
    /// <summary>How chunks are stored (zstd where the system has it, else a framework codec).</summary>
    public Codec Codec { get; init; } = Codec.Default();

    /// <summary>How long the abort of an unfinished session may take when the backup fails or is stopped: a
    /// program stopped by Ctrl+C has 2 s in all.</summary>
    public TimeSpan AbortBound { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Connections a database image is read over at once, in parts (<see cref="Client.ParallelImageStream"/>):
    /// one connection is bound by one core on each side. 1 reads each image as one stream.</summary>
    public int Streams { get; init; } = DefaultStreams;

    /// <summary>Two parts in flight: measured here, two cores reach the loopback ceiling's share with two and gain
    /// nothing more with four (docs/benchmarks.md).</summary>
    public const int DefaultStreams = 2;

    /// <summary>Bytes per part of a parallel image read: four of the repository's chunks. The server reads a part ahead
    /// of its hashing and compression (16 MiB), so while it works on one chunk the disk reads the next; a part of one
    /// chunk left it nothing to read ahead, and a cold backup took the disk's time plus the CPU's.</summary>
    public const int PartSize = 32 << 20;

    /// <summary>Where chunks are hashed and compressed: on the server, where the bytes leave it (the default: a remote
    /// backup moves compressed bytes, and none of the chunks the repository holds), or here, from a raw stream (false;
    /// also what happens with a server or a repository that cannot take prepared chunks).</summary>
    public bool CompressOnServer { get; init; } = true;

    /// <summary>The measured default for <see cref="CompressOnServer"/>: on a server on another host, where the link
    /// carries compressed bytes and none the repository holds; here, from raw pages, when the server is on this host
    /// (<see cref="ServerAddress.IsOnThisHost"/>), where the link is free and the cores are shared with the instance:
    /// the server then only reads and checks pages, about half its CPU per GB when it also hashes and compresses, for
    /// the same backup time (docs/benchmarks.md, issue 31). A full that skips unchanged pages needs the server's
    /// chunks.</summary>
    public static bool CompressOnServerFor(string server, bool skipUnchanged) => skipUnchanged || !ServerAddress.IsOnThisHost(server);

    /// <summary>The most chunk hashes a backup tells the server its repository holds (32 MiB of them).</summary>
    public const int MaxKnownChunks = 1 << 20;

    /// <summary>An incremental or differential that holds the pages changed since its page base (the nearest set of its
    /// chain holding pages) instead of every log record since its parent.</summary>
    public bool ChangedPages { get; init; }

    /// <summary>A full backup that does not read again the pages unchanged since the repository's newest full set of
    /// the instance began (the server's page maps say which): their chunks are named from that set. Much faster where
    /// little changed, and the disk is not read for them; but those pages' checksums are not checked again (a full
    /// without it reads and checks every page). Needs the server to cut the chunks (not <see cref="CompressOnServer"/>
    /// false).</summary>
    public bool SkipUnchanged { get; init; }

    /// <summary>With <see cref="SkipUnchanged"/>: read every page anyway when the newest full set of the instance that
    /// read every page ended longer ago than this (or the repository holds none), so that every page's checksum is still
    /// checked that often. Null: skip whenever a base allows it.</summary>
    public TimeSpan? ReadAllAfter { get; init; }

    /// <summary>Record every table's digest at the end of the log range in the manifest (taken by the server at low
    /// priority while the logs are copied): what a proof of the set compares its restore with.</summary>
    public bool Digest { get; init; }

    /// <summary>Called once the set is committed and before the server truncates (tests stop a backup exactly
    /// there). The backup waits for it, under the backup's own token.</summary>
    public Func<CancellationToken, Task>? AfterCommit { get; init; }
}

/// <summary>Where a backup is: the current file, and the whole set as far as its size is known (the images' from the
/// start; the logs' once the server has listed them).</summary>
public sealed record BackupProgress(string File, long FileDone, long FileSize, long SetDone, long SetKnown, bool LogsListed);

/// <summary>A committed set: its id and parent, bytes read and stored, the codec, the time taken, its log range,
/// and the generations the server deleted afterwards.</summary>
/// <summary>What a backup did. <paramref name="StoredBytes"/> are the bytes it wrote into the repository;
/// <paramref name="ReusedBytes"/> the content it found there already (format 2), not written again.</summary>
public sealed record BackupResult(string SetId, string? Parent, long RawBytes, long StoredBytes, string Codec, double Seconds, uint GenLow, uint GenHigh, IReadOnlyList<uint> Truncated, long ReusedBytes = 0)
{
    /// <summary>Bytes that crossed the network from the server (frames when it prepared the chunks, raw bytes
    /// otherwise).</summary>
    public long WireBytes { get; init; }

    /// <summary>True when the server cut, hashed and compressed the chunks.</summary>
    public bool CompressedOnServer { get; init; }

    /// <summary>A changed-pages set: the generation its pages are listed from, or null.</summary>
    public uint? ChangedSince { get; init; }

    /// <summary>The repository's chain head once the set's entry is in it (SEQ:HASH).</summary>
    public string? ChainHead { get; init; }

    /// <summary>A changed-pages set: the databases held whole instead, each with why (never silently).</summary>
    public IReadOnlyList<string> WholeImages { get; init; } = [];

    /// <summary>A full that skipped unchanged pages: bytes of images not read again, named from
    /// <see cref="UnchangedFrom"/>.</summary>
    public long UnreadBytes { get; init; }

    /// <summary>A full that skipped unchanged pages: the set it named them from, or null when every page was read.</summary>
    public string? UnchangedFrom { get; init; }

    /// <summary>A full asked to skip unchanged pages: why each database (or the whole backup) was read in full instead.</summary>
    public IReadOnlyList<string> ReadInFull { get; init; } = [];
}

/// <summary>The repository cannot take this backup (no base for an incremental, or the server's log range does not
/// join the chain it holds): the message names the sets and generations and what to do. Nothing was written and
/// nothing truncated.</summary>
public sealed class BackupRefusedByRepositoryException(string message) : BackupProgramException(message);

/// <summary>The backup was stopped after its set was committed: the set is whole and listed (it restores and verifies
/// like any other), but the rest was not done: the server's logs were not truncated (or not all of them; the next
/// backup truncates them) and the session was aborted, not ended. An <see cref="OperationCanceledException"/>, so a
/// caller that treats any stop alike still may.</summary>
public sealed class BackupStoppedAfterCommitException(string setId, CancellationToken token)
    : OperationCanceledException($"Stopped after set {setId} was committed: the set is complete and listed; the server's logs were not truncated (the next backup truncates them).", token)
{
    public string SetId { get; } = setId;
}

/// <summary>Something failed after the backup's set was committed (the server's log truncation or the session's end:
/// the instance stopped, the server went away): the set is whole and listed (it restores and verifies like any
/// other), but the server's logs were not truncated (or not all of them; the next backup truncates them). Before,
/// this came out as the bare error, and the program said "no set was written" beside a listed set (found by the
/// soak's failure drills).</summary>
public sealed class BackupFailedAfterCommitException(string setId, Exception inner)
    : BackupProgramException($"Set {setId} was committed: it is complete and listed, and restores like any other. What failed after the commit: {inner.Message.TrimEnd('.', ' ')}. The server's logs were not truncated; the next backup truncates them.", inner)
{
    public string SetId { get; } = setId;
}
