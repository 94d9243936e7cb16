using Blueback.Client;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Format;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

/// <summary>Where a restore's files go and who recovers them: an instance directory (offline) or a server's
/// restore session (online). The command picks the sets, reads and checks them, and streams them through one of
/// these, so both restores take the same path up to the last step.</summary>
public interface IRestoreSink : IAsyncDisposable
{
    /// <summary>What the restore writes into, for messages.</summary>
    string Where { get; }

    /// <summary>Whether a format-2 file's copy writes chunk frames (<see cref="ChunkFrameCopy"/>) rather than its
    /// bytes; known once the restore has begun.</summary>
    bool TakesChunkFrames => false;

    Task BeginAsync(RestoreRecord record, CancellationToken ct);

    Task WriteDatabaseAsync(string name, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct);

    /// <summary>Lays a later set's changed pages of database <paramref name="name"/> over the image written before.</summary>
    Task ApplyChangedPagesAsync(string name, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct);

    /// <summary>False when the generation was already in place with this content (nothing sent).</summary>
    Task<bool> WriteLogAsync(uint generation, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct);

    Task<HardRecoveryReport> RecoverAsync(Action<string> phase, CancellationToken ct);

    /// <summary>Writing failed or was stopped: leave a record that says so (bounded, never throws).</summary>
    Task FailAsync(string error);
}

/// <summary>Offline: writes into DATA/NAME through the engine's restore writer and runs hard recovery here. A delta
/// restore (<paramref name="deltaPageSizes"/>: each database's page size) patches the database files already there
/// instead, rewriting only the pages that differ, and keeps the instance's logs for play-forward as a replace does. A
/// mount (<paramref name="mountedImages"/>) writes no image: each stays in the repository, read through those stores.</summary>
public sealed class DirectoryRestoreSink(string directory, string name, bool replace, Func<Action<string>, CancellationToken, HardRecoveryReport>? recover = null,
    IReadOnlyDictionary<string, int>? deltaPageSizes = null, Storage.Paging.IPageStores? mountedImages = null) : IRestoreSink
{
    private RestoreWriter? _writer;
    private readonly List<DeltaReport> _deltas = [];

    public string Where => directory;

    /// <summary>What a delta restore did to each database file.</summary>
    public IReadOnlyList<DeltaReport> Deltas => _deltas;

    public Task BeginAsync(RestoreRecord record, CancellationToken ct)
    {
        _writer = RestoreWriter.Begin(directory, record, replace || deltaPageSizes is not null, keepDatabases: deltaPageSizes is not null);
        return Task.CompletedTask;
    }

    public async Task WriteDatabaseAsync(string name, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct)
    {
        if (mountedImages is not null)
        {
            Writer.RecordImage(name, mountedImages); // its chunks are fetched and checked when its pages are read
            return;
        }
        // The extract checks every chunk and the file's SHA-256 on the way.
        if (deltaPageSizes is not null)
        {
            _deltas.Add(await Writer.PatchDatabaseAsync(name, file.Size, deltaPageSizes.GetValueOrDefault(name), copy, ct).ConfigureAwait(false));
            return;
        }
        await Writer.WriteDatabaseAsync(name, file.Size, null, copy, ct).ConfigureAwait(false);
    }

    public Task ApplyChangedPagesAsync(string name, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct) =>
        Writer.ApplyChangedPagesAsync(name, file.Size, file.Digest, copy, ct, ChunkDigestCheck.For(file));

    public async Task<bool> WriteLogAsync(uint generation, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct)
    {
        if (await Writer.HasLogAsync(generation, file.Size, file.Digest, ct, ChunkDigestCheck.For(file)).ConfigureAwait(false))
        {
            return false; // a live generation kept by --replace, identical to the set's copy
        }
        return await Writer.WriteLogAsync(generation, file.Size, null, copy, ct).ConfigureAwait(false);
    }

    public Task<HardRecoveryReport> RecoverAsync(Action<string> phase, CancellationToken ct)
    {
        Writer.Complete();
        Writer.Dispose(); // hard recovery takes the instance lock itself
        _writer = null;
        return Task.FromResult(recover is null ? HardRecovery.Run(directory, new InstanceOptions { Name = name }, phase, ct) : recover(phase, ct));
    }

    public Task FailAsync(string error)
    {
        _writer?.Fail(error);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _writer?.Dispose();
        return ValueTask.CompletedTask;
    }

    private RestoreWriter Writer => _writer ?? throw new InvalidOperationException("The restore has not begun.");

    /// <summary>A format-2 file's chunk sizes (its digest is over its chunks); null for format 1 (a flat SHA-256).</summary>
    internal static IReadOnlyList<int>? ChunkSizes(ManifestFile file) => file.ChunkDigest is null ? null : file.Chunks.Select(c => c.RawSize).ToList();
}

/// <summary>Online: streams the files to a server's restore session, which writes them, recovers, and mounts the
/// instance (new, or in place of a live one that it took offline).</summary>
public sealed class ServerRestoreSink(BluebackClient client, string instance, bool replace) : IRestoreSink
{
    private RestoreSession? _session;

    public string Where => $"instance '{instance}' on {client.Server}{(replace ? " (in place)" : " (new)")}";

    public async Task BeginAsync(RestoreRecord record, CancellationToken ct)
    {
        _session = await client.BeginRestoreAsync(instance, new BeginRestoreRequest
        {
            Mode = replace ? "replace" : "new",
            Repository = record.Repository,
            Sets = record.Sets,
            SourceInstance = record.SourceInstance,
            SourceServer = record.SourceServer,
            GenLow = record.GenLow,
            GenHigh = record.GenHigh,
            ConsistentAfter = record.ConsistentAfter,
            Stop = record.Stop,
            PlayForward = record.PlayForward,
            UpToContiguous = record.UpToContiguous,
        }, ct).ConfigureAwait(false);
    }

    /// <summary>A server that says it takes chunk frames gets them (compressed on the wire, checked there).</summary>
    public bool TakesChunkFrames => _session?.TakesChunkFrames == true;

    public Task WriteDatabaseAsync(string name, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct) =>
        Session.UploadDatabaseAsync(name, file.Size, file.Digest, copy, ct, DirectoryRestoreSink.ChunkSizes(file), ChunkFrameCopy.Applies(this, file));

    public Task ApplyChangedPagesAsync(string name, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct) =>
        Session.UploadChangedPagesAsync(name, file.Size, file.Digest, copy, ct, DirectoryRestoreSink.ChunkSizes(file), ChunkFrameCopy.Applies(this, file));

    public async Task<bool> WriteLogAsync(uint generation, ManifestFile file, Func<Stream, CancellationToken, Task> copy, CancellationToken ct)
    {
        await Session.UploadLogAsync(generation, file.Size, file.Digest, copy, ct, DirectoryRestoreSink.ChunkSizes(file), ChunkFrameCopy.Applies(this, file)).ConfigureAwait(false);
        return true;
    }

    public async Task<HardRecoveryReport> RecoverAsync(Action<string> phase, CancellationToken ct)
    {
        RestoreSessionInfo info;
        try
        {
            info = await Session.RecoverAsync(phase, ct).ConfigureAwait(false);
        }
        catch (RestoreFailedException ex)
        {
            // The client cannot know the engine's types; here an online restore's failure becomes what an offline
            // one is, so a caller catches one type for both. The message is the server's, unchanged.
            throw new RestoreException(ex.Message, ex);
        }
        var r = info.Result ?? throw new RestoreException($"Restore {info.Id} ended without a result from the server.");
        return new HardRecoveryReport(Lsn.TryParse(r.From, out var from) ? from : default, Lsn.TryParse(r.End, out var end) ? end : default,
            r.TransactionsReplayed, r.PagesApplied, r.StopReached, r.EndReason, r.LastCommitTime, r.SetAside);
    }

    /// <summary>The server marks the record failed when the session is aborted.</summary>
    public async Task FailAsync(string error)
    {
        if (_session is not null)
        {
            await _session.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_session is not null)
        {
            await _session.DisposeAsync().ConfigureAwait(false);
        }
    }

    private RestoreSession Session => _session ?? throw new InvalidOperationException("The restore has not begun.");
}
