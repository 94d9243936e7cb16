using Blueback.Protocol;
using Blueback.Server.Sessions;
using Blueback.Storage;
using Blueback.Storage.Backup;
using Blueback.Storage.ChangedPages;
using Blueback.Storage.Format;

namespace Blueback.Server.Backups;

/// <summary>One running backup as the server hosts it for a client: the engine's backup plus a lease that every
/// call renews (the client library's counterpart is <c>Blueback.Client.BackupSession</c>).</summary>
public sealed class HostedBackup(InstanceBackup backup, TimeSpan lease, string? clientId = null) : ILeasedSession
{
    public InstanceBackup Backup { get; } = backup;
    public string Id { get; } = clientId ?? backup.Id.ToString("N");
    public Lease Lease { get; } = new(lease);
    public DateTime Started => Backup.Started;
    public bool IsFinished => Backup.IsFinished;
    public string? Error { get; set; }
    public string? AbortReason { get; private set; }

    private long _bytesSent;
    private readonly Lock _knownLock = new();

    /// <summary>Bytes of images, pages and logs sent to the client so far (live progress for status and the console).</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public void Sent(long n) => Interlocked.Add(ref _bytesSent, n);

    /// <summary>The content hashes of chunks the program's repository holds (what it sent): chunk frames leave their
    /// payloads out. Replaced whole, never changed in place, so streams read it without a lock.</summary>
    public IReadOnlySet<ContentHash> KnownChunks { get; private set; } = System.Collections.Frozen.FrozenSet<ContentHash>.Empty;

    /// <summary>The most hashes a session keeps (64 MiB of them): past it, the program is told to send fewer.</summary>
    public const int MaxKnownChunks = 2 << 20;

    /// <summary>Adds hashes (32 bytes each); false when the session would then hold more than
    /// <see cref="MaxKnownChunks"/>.</summary>
    public bool AddKnownChunks(ReadOnlySpan<byte> hashes)
    {
        lock (_knownLock)
        {
            if (KnownChunks.Count + (hashes.Length / ContentHash.Size) > MaxKnownChunks)
            {
                return false;
            }
            KnownChunks = ContentHash.Union(KnownChunks, hashes);
            return true;
        }
    }

    public void Abort(string reason)
    {
        AbortReason ??= reason;
        Backup.Abort();
    }

    public BackupSessionInfo Info(StorageInstance instance) => new()
    {
        Id = Id,
        Instance = Backup.InstanceName,
        Type = Backup.Type.Name(),
        State = Backup.State.ToString().ToLowerInvariant(),
        Started = Backup.Started,
        GenLow = Backup.GenLow,
        GenHigh = Backup.GenHigh,
        LeaseSeconds = Lease.Length.TotalSeconds,
        LogSignature = instance.LogSignature.Id.ToString("N"),
        ChangedSince = Backup.ChangedSince,
        Databases = Backup.Databases.Select(d => Describe(d, Backup.ChangedPages(d.Name))).ToList(),
        Error = Error ?? AbortReason,
        BytesSent = BytesSent,
        TotalBytes = TotalBytes(instance),
        ServerTime = DateTime.UtcNow,
        WireCodecs = ChunkFrames.Codecs,
    };

    /// <summary>What the server will send: the images (full, copy) or changed pages the type reads, and every log
    /// generation of the range (to the current one while it is open: it can only grow). Counted as the streams count
    /// <see cref="BytesSent"/> (raw bytes read), so progress never reads "11.7 MiB of 3.7 MiB".</summary>
    private long TotalBytes(StorageInstance instance)
    {
        long images = 0;
        if (Backup.ReadsDatabases)
        {
            foreach (var d in Backup.Databases)
            {
                images += Backup.ChangedSince is null || Backup.Type.IncludesDatabases() ? d.ImageSize : Backup.ChangedPages(d.Name) is { Pages: { } pages } ? ChangedPagesImage.Length(pages.Count(p => p < d.PageCount), d.PageSize) : d.ImageSize;
            }
        }
        uint high = Backup.GenHigh ?? instance.CurrentGeneration;
        long logs = high >= Backup.GenLow ? (long)(high - Backup.GenLow + 1) * instance.Options.LogGenerationSize : 0;
        return images + logs;
    }

    private static BackupDatabaseInfo Describe(BackupDatabase d, ChangedPageList? changed)
    {
        // Pages added after the backup began are not read (the logs hold them), as in a whole image.
        int? count = changed?.Pages?.Count(p => p < d.PageCount);
        return new BackupDatabaseInfo
        {
            Name = d.Name,
            Id = d.Id,
            Signature = d.Signature.Id.ToString("N"),
            PageSize = d.PageSize,
            ImageSize = d.ImageSize,
            ChangedPages = count,
            ChangedPagesSize = count is { } n ? ChangedPagesImage.Length(n, d.PageSize) : null,
            ChangedPagesProblem = changed?.Problem,
        };
    }
}
