using System.Text.Json;
using System.Text.Json.Serialization;

namespace Blueback.Repository;

/// <summary>The maintenance lock of a repository (<c>locks/maintenance.json</c>): held by <c>forget</c> and
/// <c>repo gc</c> so that two maintainers never delete at once. It is an object created only if absent, with a
/// lease: a holder that died leaves a lock that expires, and the next maintainer takes it over then, or at once when
/// the holder was a process of this machine that no longer runs.</summary>
public sealed partial class RepositoryLock : IAsyncDisposable
{
    public const string Root = "locks";
    public const string Key = $"{Root}/maintenance.json";
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(10);

    private readonly BackupRepository _repository;
    private readonly LockRecord _record;
    private readonly string? _claimKey;
    private int _released;

    private RepositoryLock(BackupRepository repository, LockRecord record, string? claimKey = null)
    {
        _repository = repository;
        _record = record;
        _claimKey = claimKey;
    }

    public static async Task<RepositoryLock> AcquireAsync(BackupRepository repository, string purpose, TimeSpan lease, CancellationToken cancellationToken)
    {
        var record = new LockRecord
        {
            Owner = Guid.NewGuid().ToString("N"),
            Host = Environment.MachineName,
            Pid = Environment.ProcessId,
            Purpose = purpose,
            Acquired = DateTime.UtcNow,
            Expires = DateTime.UtcNow + lease,
        };
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record, LockJson.Default.LockRecord);
        if (repository.IsImmutable)
        {
            return await ClaimAsync(repository, record, bytes, lease, cancellationToken).ConfigureAwait(false);
        }
        for (int attempt = 0; attempt < 2; attempt++)
        {
            if (await repository.Store.TryCreateAsync(Key, bytes, cancellationToken).ConfigureAwait(false))
            {
                return new RepositoryLock(repository, record);
            }
            var held = await ReadAsync(repository, cancellationToken).ConfigureAwait(false);
            if (held is not null && held.Expires > DateTime.UtcNow && !HolderIsGone(held))
            {
                throw Held(repository, held);
            }
            // Expired, its holder gone, or unreadable: take it over.
            await repository.Store.DeleteAsync(Key, cancellationToken).ConfigureAwait(false);
        }
        throw new RepositoryException($"Repository '{repository.Store.Location}': another maintainer took the lock at the same moment. Run the command again.");
    }

    /// <summary>Whether the holder is a process of this machine that no longer runs: a gc killed or stopped past its
    /// bound would otherwise hold every maintainer off for its lease (10 min). A holder on another host, or a process
    /// id that runs again (reused), is taken as alive: only the lease ends those.</summary>
    private static RepositoryException Held(BackupRepository repository, LockRecord held) =>
        new($"Repository '{repository.Store.Location}' is locked for {held.Purpose} by process {held.Pid} on {held.Host} since {held.Acquired:u} (until {held.Expires:u}). Wait for it to finish; if that process is gone from its machine, the lock expires at {held.Expires:u} (a holder gone from this machine is taken over at once).");

    private static bool HolderIsGone(LockRecord held)
    {
        if (!string.Equals(held.Host, Environment.MachineName, StringComparison.Ordinal) || held.Pid <= 0 || held.Pid == Environment.ProcessId)
        {
            return false;
        }
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(held.Pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true; // no such process
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    private static async Task<LockRecord?> ReadAsync(BackupRepository repository, CancellationToken ct)
    {
        try
        {
            return JsonSerializer.Deserialize(await repository.Store.ReadAsync(Key, ct).ConfigureAwait(false), LockJson.Default.LockRecord);
        }
        catch (Exception ex) when (ex is JsonException or FileNotFoundException or RepositoryException)
        {
            return null;
        }
    }

    /// <summary>Releases the lock if it is still ours (bounded, never throws: an unreleased lock expires).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            if (_claimKey is not null)
            {
                await ReleaseClaimAsync(cts.Token).ConfigureAwait(false);
                return;
            }
            if ((await ReadAsync(_repository, cts.Token).ConfigureAwait(false))?.Owner == _record.Owner)
            {
                await _repository.Store.DeleteAsync(Key, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or RepositoryException or UnauthorizedAccessException)
        {
            // It expires.
        }
    }
}

public sealed class LockRecord
{
    [JsonPropertyName("owner")] public string Owner { get; set; } = "";
    [JsonPropertyName("host")] public string Host { get; set; } = "";
    [JsonPropertyName("pid")] public int Pid { get; set; }
    [JsonPropertyName("purpose")] public string Purpose { get; set; } = "";
    [JsonPropertyName("acquired")] public DateTime Acquired { get; set; }
    [JsonPropertyName("expires")] public DateTime Expires { get; set; }
}

[JsonSerializable(typeof(LockRecord))]
internal sealed partial class LockJson : JsonSerializerContext;
