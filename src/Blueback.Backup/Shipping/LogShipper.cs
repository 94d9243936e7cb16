using System.Diagnostics;
using System.Net;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Storage.Log;

namespace Blueback.Backup;

/// <summary>What to ship and how fast: every generation as it closes, and the server closes the current one once
/// its oldest commit is <see cref="RollAfter"/> old, so a commit waits at most about <see cref="MaxLag"/> before it
/// is durable in the repository (docs/shipping.md).</summary>
public sealed record ShipOptions(string Instance, TimeSpan MaxLag)
{
    public Codec Codec { get; init; } = Codec.Default();

    /// <summary>The share of the lag budget a commit may wait on the server; the rest is for the fetch, the upload
    /// and the commit in the repository.</summary>
    public TimeSpan RollAfter => TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, (long)(MaxLag.Ticks * 0.4)));

    /// <summary>How long a claim is retried while another shipper's lease (a killed one's) runs out.</summary>
    public TimeSpan ClaimPatience { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>One generation made durable in the repository.</summary>
/// <param name="Cover">Every commit acknowledged before this time is in the repository now.</param>
public sealed record ShippedGeneration(uint Generation, long Bytes, long StoredBytes, DateTime Cover, int Commits, IReadOnlyList<uint> DeletedOnServer, double Seconds);

/// <summary>Shipping cannot go on (no full set to attach to, another shipper holds the instance, the server lost a
/// generation the repository needs): the message says what to do.</summary>
public sealed class ShippingFailedException(string message, Exception? inner = null) : BackupProgramException(message, inner);

/// <summary>Ships an instance's log into a repository until stopped: resumes after what the repository holds (its
/// newest full set's chain and the shipped generations that follow it), fetches each closed generation, checks it
/// (every record, its end record, its log stream), commits it like a set (chunks, then the manifest), and only then
/// tells the server, which may delete it. Transient failures (server or repository unreachable, a full repository)
/// are retried with backoff while the server keeps the logs; a stop returns within a bounded time.</summary>
public sealed class LogShipper(BluebackClient client, BackupRepository repo, ShipOptions options)
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    private readonly string _shipperId = Guid.NewGuid().ToString("N");
    private Task _abandoned = Task.CompletedTask;
    // The codec the server compresses generations with, when it offers one this repository can store as it comes.
    private string? _wireCodec;

    /// <summary>Every generation shipped.</summary>
    public event Action<ShippedGeneration>? Shipped;

    /// <summary>A problem the shipper rides out (retrying) or a change of state, for the operator.</summary>
    public event Action<string>? Notice;

    public string ShipperId => _shipperId;

    /// <summary>The last generation the repository holds (after <see cref="RunAsync"/> began).</summary>
    public uint ShippedThrough { get; private set; }

    public async Task RunAsync(CancellationToken ct)
    {
        var calls = new ShippingCalls(client, options.Instance, _shipperId);
        try
        {
            string signature = await ClaimAsync(calls, ct).ConfigureAwait(false);
            var backoff = TimeSpan.Zero;
            string? failing = null;
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    var wait = TimeSpan.FromSeconds(Math.Clamp(options.MaxLag.TotalSeconds, 1, 5));
                    var ready = await calls.ReadyAsync(ShippedThrough, options.RollAfter, wait, ct).ConfigureAwait(false);
                    for (uint g = ShippedThrough + 1; g <= ready.CompleteThrough; g++)
                    {
                        await ShipOneAsync(calls, signature, g, g == ready.CompleteThrough ? ready.Cover : null, ct).ConfigureAwait(false);
                    }
                    if (failing is not null)
                    {
                        Notice?.Invoke($"shipping again (after: {failing}); the repository holds generation {ShippedThrough}");
                        failing = null;
                    }
                    backoff = TimeSpan.Zero;
                }
                catch (BluebackApiException ex) when (ex.Status == HttpStatusCode.Conflict && ex.Problem?.Title == "Not the shipper" && !ct.IsCancellationRequested)
                {
                    Notice?.Invoke($"the server no longer knows this shipper ({ex.Problem.Detail}); claiming the instance again");
                    signature = await ClaimAsync(calls, ct).ConfigureAwait(false);
                }
                catch (BluebackApiException ex) when (!IsTransient(ex) && !ct.IsCancellationRequested)
                {
                    // A refusal the server will give again (a generation it no longer has, another repository that
                    // took the instance over): retrying cannot help, and the server's own words say what to do.
                    throw new ShippingFailedException($"the server refused shipping instance '{options.Instance}' after generation {ShippedThrough}: {ex.Problem?.Detail ?? ex.Message}", ex);
                }
                catch (Exception ex) when (IsTransient(ex) && !ct.IsCancellationRequested)
                {
                    var what = Describe(ex);
                    if (failing != what)
                    {
                        Notice?.Invoke($"{what}; retrying (the server keeps every generation not yet shipped; nothing is lost)");
                        failing = what;
                    }
                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
                    await Task.Delay(backoff, ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            // Let another shipper take over at once rather than after the lease; bounded, and never in the way of a stop.
            using var release = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                await calls.ReleaseAsync(release.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or BluebackApiException or IOException)
            {
                // The lease runs out on its own.
            }
        }
    }

    /// <summary>Finds where the repository ends and claims the instance from there; retries while another
    /// shipper's lease runs out (a killed shipper's), for at most <see cref="ShipOptions.ClaimPatience"/>.</summary>
    private async Task<string> ClaimAsync(ShippingCalls calls, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        var backoff = TimeSpan.FromMilliseconds(200);
        string? told = null;
        while (true)
        {
            try
            {
                var status = await client.StatusAsync(ct).ConfigureAwait(false);
                var inst = status.Instances.FirstOrDefault(i => i.Name == options.Instance)
                    ?? throw new ShippingFailedException($"the server has no instance '{options.Instance}' (it serves: {string.Join(", ", status.Instances.Select(i => i.Name))}).");
                if (inst.State != "online" || inst.LogSignature.Length == 0)
                {
                    throw new HttpRequestException($"instance '{options.Instance}' is {inst.State}{(inst.Detail is { } d ? $" ({d})" : "")}");
                }
                var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
                var shipped = await repo.ListShippedAsync(options.Instance, ct).ConfigureAwait(false);
                var through = ShippedChain.HeldThrough(sets, shipped, options.Instance, inst.LogSignature)
                    ?? throw new ShippingFailedException($"the repository '{repo.Store.Location}' holds no full backup of instance '{options.Instance}' with its current log stream ({inst.LogSignature}): shipped logs need one to attach to. Take one ('blueback backup --type full --instance {options.Instance}'), then start 'blueback ship' again.");
                var claim = await calls.ClaimAsync(repo.Id, repo.Store.Location, through, ct).ConfigureAwait(false);
                ShippedThrough = claim.ShippedThrough;
                _wireCodec = ServerChunks.CodecFor(repo.Format, options.Codec.Name, claim.WireCodecs);
                Notice?.Invoke($"shipping instance '{options.Instance}' (log stream {claim.LogSignature}) into {repo.Store.Location} after generation {claim.ShippedThrough}; the server has closed generations up to {claim.CompleteThrough}");
                return claim.LogSignature;
            }
            catch (BluebackApiException ex) when (ex.Status == HttpStatusCode.Conflict && ex.Problem?.Title == "Already shipped" && started.Elapsed < options.ClaimPatience && !ct.IsCancellationRequested)
            {
                if (told is null)
                {
                    Notice?.Invoke($"{ex.Problem.Detail} Waiting up to {options.ClaimPatience.TotalSeconds:0} s for its lease to end.");
                    told = ex.Message;
                }
            }
            catch (BluebackApiException ex) when (ex.Status == HttpStatusCode.Conflict)
            {
                throw new ShippingFailedException(ex.Problem?.Detail ?? ex.Message, ex);
            }
            catch (Exception ex) when (IsTransient(ex) && !ct.IsCancellationRequested)
            {
                if (told != Describe(ex))
                {
                    told = Describe(ex);
                    Notice?.Invoke($"{told}; retrying");
                }
            }
            await Task.Delay(backoff, ct).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
        }
    }

    private async Task ShipOneAsync(ShippingCalls calls, string signature, uint generation, DateTime? cover, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var started = DateTime.UtcNow;
        var frames = _wireCodec is { } wire ? await calls.FetchChunksAsync(generation, BackupSetWriter.DefaultChunkSize, wire, ct).ConfigureAwait(false) : null;
        var bytes = frames is null ? await calls.FetchAsync(generation, ct).ConfigureAwait(false) : ServerChunks.Reassemble(frames, $"log generation {generation} of instance '{options.Instance}'");
        WholeGeneration whole;
        try
        {
            whole = WholeGeneration.FromBytes(bytes, $"{options.Instance} generation {generation} as received", generation, null, "shipping");
        }
        catch (Storage.StorageException ex)
        {
            // The server checked it before sending: damage on the way. Asked for again.
            throw new IOException($"log generation {generation} arrived damaged ({ex.Message})", ex);
        }
        if (whole.LogSignatureId.ToString("N") != signature)
        {
            throw new ShippingFailedException($"log generation {generation} of instance '{options.Instance}' belongs to log stream {whole.LogSignatureId:N}, not {signature} that the instance was claimed with (was it restored meanwhile?). Start 'blueback ship' again.");
        }
        var key = new ShippedKey(options.Instance, signature, generation);
        // A failed try's write that outlived its abandon would remove (or overwrite) this one's under the same name.
        await _abandoned.WaitAsync(ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ct.ThrowIfCancellationRequested();
        var writer = repo.BeginShipped(key, options.Codec);
        try
        {
            if (frames is not null)
            {
                await ServerChunks.AddReceivedAsync(writer, SetLayout.LogPath(generation), frames, ct).ConfigureAwait(false);
            }
            else
            {
                using var source = new MemoryStream(bytes, writable: false);
                await writer.AddFileAsync(SetLayout.LogPath(generation), source, null, ct).ConfigureAwait(false);
            }
            var manifest = new Manifest
            {
                RepositoryId = repo.Id,
                SetId = key.SetId,
                Instance = options.Instance,
                Server = client.Server,
                Type = BackupRepository.ShippedType,
                Started = started,
                Ended = DateTime.UtcNow,
                LogsCover = cover ?? whole.LastCommit ?? whole.Created,
                LogSignature = signature,
                GenLow = generation,
                GenHigh = generation,
                Codec = writer.CodecName,
                Files = writer.Files.ToList(),
            };
            await writer.CommitAsync(manifest, ct).ConfigureAwait(false);
            // Durable in the repository: only now may the server forget it.
            var ack = await calls.AcknowledgeAsync(repo.Id, generation, ct).ConfigureAwait(false);
            ShippedThrough = generation;
            Shipped?.Invoke(new ShippedGeneration(generation, writer.RawBytes, writer.StoredBytes, manifest.LogsCover.Value, whole.Commits, ack.Deleted, sw.Elapsed.TotalSeconds));
        }
        catch when (ShippedThrough < generation)
        {
            await writer.AbandonAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            _abandoned = writer.CleanedUp;
            throw;
        }
    }

    private static bool IsTransient(Exception ex) => ex switch
    {
        BluebackApiException api => (int)api.Status >= 500 || api.Status == HttpStatusCode.TooManyRequests,
        ShippingFailedException => false,
        HttpRequestException or IOException or TimeoutException or RepositoryException or UnauthorizedAccessException => true,
        OperationCanceledException => true, // an HTTP timeout (the caller's own stop is excluded where this is used)
        _ => false,
    };

    private static string Describe(Exception ex) => ex switch
    {
        IOException io when io.Message.Contains("space", StringComparison.OrdinalIgnoreCase) => $"the repository is full ({io.Message.TrimEnd('.')}): free space in it",
        BluebackApiException api => $"the server answered {api.Message.TrimEnd('.')}",
        HttpRequestException http => $"the server is unreachable ({http.Message.TrimEnd('.')})",
        OperationCanceledException => "a call timed out",
        _ => $"{ex.Message.TrimEnd('.')}",
    };
}
