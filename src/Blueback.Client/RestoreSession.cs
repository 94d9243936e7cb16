using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>A running restore on the server, for a restore program: upload the database images and log
/// generations (each with its SHA-256, which the server checks), then ask for recovery and follow it to the end.
/// Disposing a session that did not finish aborts it on the server within a bound (2 s by default), never throwing
/// and never hanging; the server then leaves the instance as it was if nothing was written, or offline with its
/// restore record saying what happened.</summary>
public sealed class RestoreSession : IAsyncDisposable
{
    private readonly BluebackClient _client;
    private int _finished;

    private RestoreSession(BluebackClient client, RestoreSessionInfo info)
    {
        _client = client;
        Info = info;
    }

    /// <summary>The session as the server last described it.</summary>
    public RestoreSessionInfo Info { get; private set; }
    /// <summary>The session's id (32 lowercase hex digits).</summary>
    public string Id => Info.Id;

    /// <summary>How long <see cref="DisposeAsync"/> waits for the server to acknowledge the abort.</summary>
    public TimeSpan AbortBound { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether the server takes a format-2 file's chunks as chunk frames, as the repository stores them
    /// (<see cref="Routes.ChunkFramesEncoding"/>): compressed on the wire, checked and decompressed by the server.</summary>
    public bool TakesChunkFrames => Info.UploadEncodings.Contains(Routes.ChunkFramesEncoding);

    /// <summary>True once the session has ended (done, failed or aborted); disposing it then does nothing more.</summary>
    public bool IsFinished => Volatile.Read(ref _finished) != 0;

    internal static async Task<RestoreSession> BeginAsync(BluebackClient client, string instance, BeginRestoreRequest request, CancellationToken ct)
    {
        request.Id ??= Guid.NewGuid().ToString("N"); // ours, so a begin cancelled before its answer can still be aborted
        try
        {
            using var content = JsonContent.Create(request, ProtocolJson.Default.BeginRestoreRequest);
            using var response = await client.Http.PostAsync(Routes.BeginRestore(instance), content, ct).ConfigureAwait(false);
            await BluebackClient.EnsureAsync(response, ct).ConfigureAwait(false);
            var info = await response.Content.ReadFromJsonAsync(ProtocolJson.Default.RestoreSessionInfo, ct).ConfigureAwait(false);
            return new RestoreSession(client, info!);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException or JsonException)
        {
            // Awaited (bounded), not left running: the program may exit right after this throw (see BackupSession).
            await AbortQuietlyAsync(client, request.Id, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends a database image: <paramref name="write"/> writes exactly <paramref name="size"/> bytes.</summary>
    /// <param name="database">The database the image is of.</param>
    /// <param name="size">The image's length in bytes.</param>
    /// <param name="sha256">The SHA-256 of the image's bytes (lowercase hex), which the server checks before the file counts.</param>
    /// <param name="write">Writes the image into the stream it is given, honouring the token.</param>
    /// <param name="cancellationToken">Stops the upload.</param>
    /// <param name="chunkSizes">For a file of a repository-format-2 set: its chunks' sizes, <paramref name="sha256"/>
    /// being then its chunk digest.</param>
    /// <param name="chunkFrames"><paramref name="write"/> writes the file's chunks as chunk frames (one per
    /// chunk of <paramref name="chunkSizes"/>, in order) rather than its bytes; see <see cref="TakesChunkFrames"/>.</param>
    public Task UploadDatabaseAsync(string database, long size, string sha256, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken = default, IReadOnlyList<int>? chunkSizes = null, bool chunkFrames = false) =>
        UploadAsync(Routes.RestoreImage(Id, database), size, sha256, chunkSizes, write, chunkFrames, cancellationToken);

    /// <summary>Sends a later set's changed pages of a database, laid over the image sent before.</summary>
    public Task UploadChangedPagesAsync(string database, long size, string digest, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken = default, IReadOnlyList<int>? chunkSizes = null, bool chunkFrames = false) =>
        UploadAsync(Routes.RestoreChangedPages(Id, database), size, digest, chunkSizes, write, chunkFrames, cancellationToken);

    /// <summary>Sends a log generation: <paramref name="write"/> writes exactly <paramref name="size"/> bytes.</summary>
    public Task UploadLogAsync(uint generation, long size, string sha256, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken = default, IReadOnlyList<int>? chunkSizes = null, bool chunkFrames = false) =>
        UploadAsync(Routes.RestoreLog(Id, generation), size, sha256, chunkSizes, write, chunkFrames, cancellationToken);

    private async Task UploadAsync(string route, long size, string sha256, IReadOnlyList<int>? chunkSizes, Func<Stream, CancellationToken, Task> write, bool chunkFrames, CancellationToken ct)
    {
        if (chunkFrames && chunkSizes is null)
        {
            throw new ArgumentException("A chunk-frame upload needs the file's chunk sizes.", nameof(chunkSizes));
        }
        // Frames: the compressed length is known only once sent (chunked transfer); the server reads exactly the chunks announced.
        using var request = new HttpRequestMessage(HttpMethod.Put, route) { Content = new PushContent(chunkFrames ? null : size, write) };
        request.Headers.Add(Routes.Sha256Header, sha256);
        if (chunkFrames)
        {
            request.Headers.Add(Routes.UploadEncodingHeader, Routes.ChunkFramesEncoding);
        }
        if (chunkSizes is not null)
        {
            request.Headers.Add(Routes.ChunkSizesHeader, ChunkSizes.Format(chunkSizes));
        }
        using var response = await _client.Uploads.SendAsync(request, ct).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, ct).ConfigureAwait(false);
    }

    /// <summary>Asks for hard recovery and follows it (polling, which also renews the lease) until the instance is
    /// online. <paramref name="phase"/> hears each new phase. Throws <see cref="RestoreFailedException"/> when
    /// recovery fails; the instance is then offline and the message says why.</summary>
    public async Task<RestoreSessionInfo> RecoverAsync(Action<string>? phase = null, CancellationToken cancellationToken = default)
    {
        using (var response = await _client.Http.PostAsync(Routes.RestoreRecover(Id), null, cancellationToken).ConfigureAwait(false))
        {
            await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
            Info = (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.RestoreSessionInfo, cancellationToken).ConfigureAwait(false))!;
        }
        string? last = null;
        while (true)
        {
            if (Info.Phase is { } p && p != last)
            {
                phase?.Invoke(p);
                last = p;
            }
            switch (Info.State)
            {
                case "done":
                    Volatile.Write(ref _finished, 1);
                    return Info;
                case "failed" or "aborted":
                    Volatile.Write(ref _finished, 1);
                    throw new RestoreFailedException($"Restore {Id} into instance '{Info.Instance}' {Info.State}: {Info.Error ?? "no reason given"}. The instance stays offline; run the restore again.");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            await RefreshAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The session as the server sees it now.</summary>
    public async Task<RestoreSessionInfo> RefreshAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _client.Http.GetAsync(Routes.Restore(Id), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        Info = (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.RestoreSessionInfo, cancellationToken).ConfigureAwait(false))!;
        return Info;
    }

    /// <summary>Aborts the restore on the server. Idempotent.</summary>
    public async Task AbortAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _client.Http.DeleteAsync(Routes.Restore(Id), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _finished, 1);
    }

    /// <summary>Aborts an unfinished session within <see cref="AbortBound"/>; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }
        await AbortQuietlyAsync(_client, Id, AbortBound).ConfigureAwait(false);
    }

    /// <summary>Best effort, bounded, never throws: the server's lease aborts the session if this cannot.</summary>
    private static async Task AbortQuietlyAsync(BluebackClient client, string id, TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        try
        {
            using var response = await client.Http.DeleteAsync(Routes.Restore(id), cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The server is gone or slow: its lease aborts the session.
        }
    }

    /// <summary>A request body written by the caller as it goes (no whole file in memory), of a length known up front.</summary>
    private sealed class PushContent(long? size, Func<Stream, CancellationToken, Task> write) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => write(stream, CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) => write(stream, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = size ?? -1;
            return size is not null;
        }
    }
}

/// <summary>A restore that the server could not finish; the message says why and what to do.</summary>
public sealed class RestoreFailedException(string message) : Exception(message);
