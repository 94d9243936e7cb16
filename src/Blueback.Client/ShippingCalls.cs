using System.Globalization;
using System.Net.Http.Json;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>The shipping API, one call per route (docs/shipping.md): claim, wait for closed generations, fetch one,
/// acknowledge what the repository holds, release.</summary>
public sealed class ShippingCalls(BluebackClient client, string instance, string shipperId)
{
    /// <summary>The instance shipped.</summary>
    public string Instance => instance;
    /// <summary>This shipper's id (32 lowercase hex digits), its lease on the instance.</summary>
    public string ShipperId => shipperId;

    /// <summary>Takes up shipping of the instance into the repository <paramref name="repositoryId"/> (at
    /// <paramref name="repository"/>, for messages), which holds every generation through <paramref name="resumeAfter"/>.</summary>
    /// <exception cref="BluebackApiException">The server refused (409: another shipper holds the lease, or the instance
    /// ships into another repository).</exception>
    public async Task<ShippingClaimResponse> ClaimAsync(string repositoryId, string repository, uint resumeAfter, CancellationToken cancellationToken)
    {
        using var content = JsonContent.Create(new ShippingClaimRequest { ShipperId = shipperId, RepositoryId = repositoryId, Repository = repository, ResumeAfter = resumeAfter }, ProtocolJson.Default.ShippingClaimRequest);
        using var response = await client.Http.PostAsync(Routes.Shipping(instance), content, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.ShippingClaimResponse, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Waits (at most <paramref name="wait"/>, on the server) until a generation after
    /// <paramref name="after"/> is closed; the server closes the current one once its oldest commit is
    /// <paramref name="rollAfter"/> old.</summary>
    public async Task<ShippingReady> ReadyAsync(uint after, TimeSpan rollAfter, TimeSpan wait, CancellationToken cancellationToken)
    {
        var url = string.Create(CultureInfo.InvariantCulture, $"{Routes.ShippingReady(instance)}?shipper={shipperId}&after={after}&rollAfterMs={(long)rollAfter.TotalMilliseconds}&waitMs={(long)wait.TotalMilliseconds}");
        using var response = await client.Http.GetAsync(url, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.ShippingReady, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>One closed generation, whole (the server verified it before sending); a short body throws.</summary>
    public async Task<byte[]> FetchAsync(uint generation, CancellationToken cancellationToken)
    {
        using var response = await client.Uploads.GetAsync($"{Routes.ShippingLog(instance, generation)}?shipper={shipperId}", HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (response.Content.Headers.ContentLength is { } length && length != bytes.Length)
        {
            throw new IOException($"Log generation {generation} of instance '{instance}' arrived short ({bytes.Length} of {length} bytes).");
        }
        return bytes;
    }

    /// <summary>One closed generation as chunk frames, compressed on the server with <paramref name="codec"/> (offered in
    /// <see cref="ShippingClaimResponse.WireCodecs"/>): each frame and its payload (CRC32C unchecked: the caller's), in
    /// order; a stream cut short throws.</summary>
    public async Task<IReadOnlyList<(Protocol.Wire.ChunkFrame Frame, byte[] Payload)>> FetchChunksAsync(uint generation, int chunkSize, string codec, CancellationToken cancellationToken)
    {
        using var response = await client.Uploads.GetAsync(Routes.ShippingLogChunks(instance, generation, shipperId, chunkSize, codec), HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        var what = $"log generation {generation} of instance '{instance}'";
        await using var reader = new ChunkFrameReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), what,
            (expected, _) => Task.FromResult(new BackupStreamException($"The {what} ended before {expected}: the server closed the stream.", null)));
        var frames = new List<(Protocol.Wire.ChunkFrame, byte[])>();
        while (await reader.ReadFrameAsync(cancellationToken).ConfigureAwait(false) is { } frame)
        {
            var payload = new byte[frame.PayloadSize];
            await reader.ReadPayloadAsync(payload, cancellationToken).ConfigureAwait(false);
            frames.Add((frame, payload));
        }
        return frames;
    }

    /// <summary>Tells the server the repository holds every generation through <paramref name="through"/>, durably; it
    /// may then delete them.</summary>
    public async Task<ShippingAckResponse> AcknowledgeAsync(string repositoryId, uint through, CancellationToken cancellationToken)
    {
        using var content = JsonContent.Create(new ShippingAckRequest { ShipperId = shipperId, RepositoryId = repositoryId, Through = through }, ProtocolJson.Default.ShippingAckRequest);
        using var response = await client.Http.PostAsync(Routes.ShippingAck(instance), content, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.ShippingAckResponse, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Ends this shipper's lease (the server keeps the logs not yet shipped).</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        using var response = await client.Http.DeleteAsync($"{Routes.Shipping(instance)}?shipper={shipperId}", cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
    }
}
