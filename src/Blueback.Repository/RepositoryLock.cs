using System.Text.Json;
using System.Text.Json.Serialization;

namespace Blueback.Repository;

/// <summary>The maintenance lock of a repository (<c>locks/maintenance.json</c>): held by <c>forget</c> and
/// <c>repo gc</c> so that two maintainers never delete at once. It is an object created only if absent, with a
/// lease: a holder that died leaves a lock that expires, and the next maintainer takes it over then.</summary>
public sealed class RepositoryLock : IAsyncDisposable
{
    public const string Key = "locks/maintenance.json";
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(10);

    private readonly BackupRepository _repository;
    private readonly LockRecord _record;
    private int _released;

    private RepositoryLock(BackupRepository repository, LockRecord record)
    {
        _repository = repository;
        _record = record;
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
        for (int attempt = 0; attempt < 2; attempt++)
        {
            if (await repository.Store.TryCreateAsync(Key, bytes, cancellationToken).ConfigureAwait(false))
            {
                return new RepositoryLock(repository, record);
            }
            var held = await ReadAsync(repository, cancellationToken).ConfigureAwait(false);
            if (held is not null && held.Expires > DateTime.UtcNow)
            {
                throw new RepositoryException($"Repository '{repository.Store.Location}' is locked for {held.Purpose} by process {held.Pid} on {held.Host} since {held.Acquired:u} (until {held.Expires:u}). Wait for it to finish; if that process is gone, the lock expires at {held.Expires:u}.");
            }
            // Expired (its holder died) or unreadable: take it over.
            await repository.Store.DeleteAsync(Key, cancellationToken).ConfigureAwait(false);
        }
        throw new RepositoryException($"Repository '{repository.Store.Location}': another maintainer took the lock at the same moment. Run the command again.");
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
