using System.Net.Http.Json;
using System.Text.Json;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>A running backup on the server, for a backup program: enumerate and read the database images, then
/// the logs, then truncate and end. Every call takes a CancellationToken and returns promptly when it fires.
/// Disposing a session that did not end aborts it on the server within a bound (2 s by default), never throwing
/// and never hanging, whether or not the server answers (the Q185694 lesson).</summary>
public sealed class BackupSession : IAsyncDisposable
{
    private readonly BluebackClient _client;
    private readonly SessionKeepAlive? _keepAlive;
    private int _finished;

    private BackupSession(BluebackClient client, BackupSessionInfo info)
    {
        _client = client;
        Info = info;
        _keepAlive = client.RenewsLeases ? SessionKeepAlive.Start(client, Routes.Backup(info.Id), info.LeaseSeconds) : null;
    }

    /// <summary>The session as the server last described it (at its begin, or the last
    /// <see cref="RefreshAsync"/>).</summary>
    public BackupSessionInfo Info { get; private set; }
    /// <summary>The session's id (32 hex digits), chosen by this client.</summary>
    public string Id => Info.Id;
    /// <summary>The databases the backup holds, with their sizes and, for a changed-pages backup, what changed.</summary>
    public IReadOnlyList<BackupDatabaseInfo> Databases => Info.Databases;

    /// <summary>How long <see cref="DisposeAsync"/> waits for the server to acknowledge the abort.</summary>
    public TimeSpan AbortBound { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>True once the session has ended or been aborted; disposing it then does nothing more.</summary>
    public bool IsFinished => Volatile.Read(ref _finished) != 0;

    internal static async Task<BackupSession> BeginAsync(BluebackClient client, string instance, BeginBackupRequest request, CancellationToken ct)
    {
        // The id is ours: if this call is cancelled after the server began the backup but before its answer
        // arrived, we can still abort it rather than leave it to the lease.
        var id = Guid.NewGuid().ToString("N");
        try
        {
            using var content = JsonContent.Create(new BeginBackupRequest { Type = request.Type, Id = id, ChangedSince = request.ChangedSince, Digest = request.Digest }, ProtocolJson.Default.BeginBackupRequest);
            using var response = await client.Http.PostAsync(Routes.BeginBackup(instance), content, ct).ConfigureAwait(false);
            await BluebackClient.EnsureAsync(response, ct).ConfigureAwait(false);
            var info = await response.Content.ReadFromJsonAsync(ProtocolJson.Default.BackupSessionInfo, ct).ConfigureAwait(false);
            return new BackupSession(client, info!);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException or JsonException)
        {
            // Awaited, not left running: a program stopped by Ctrl+C exits right after this throw, and an abort left
            // in flight died with it, leaving the session to its lease (a minute of "already running" refusals).
            await AbortQuietlyAsync(client, id, BeginAbortBound).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>How long a begin that failed or was cancelled waits for the abort of the session it may have made.</summary>
    private static readonly TimeSpan BeginAbortBound = TimeSpan.FromSeconds(1);

    /// <summary>Best effort, bounded, never throws: used when we may not know whether the server began a session.</summary>
    private static async Task AbortQuietlyAsync(BluebackClient client, string id, TimeSpan bound)
    {
        // Sent again until the server answers it (any status below 500) or the bound passes: an abort that failed at
        // once (the connection attempt of the cancelled begin torn down under it, a loaded server's 5xx) left the
        // session to its lease, and a begin whose abort is lost keeps the instance from the next backup for a minute.
        using var cts = new CancellationTokenSource(bound);
        try
        {
            while (true)
            {
                try
                {
                    using var response = await client.Http.DeleteAsync(Routes.Backup(id), cts.Token).ConfigureAwait(false);
                    if ((int)response.StatusCode < 500)
                    {
                        return;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !cts.IsCancellationRequested))
                {
                    // Tried again below, within the bound. A cancellation that is not the bound's comes from the
                    // cancelled begin (a connection attempt it started, torn down with it, may fail the next waiter).
                }
                await Task.Delay(AbortRetryPause, cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // The server is gone or slow: its lease aborts the session.
        }
    }

    private static readonly TimeSpan AbortRetryPause = TimeSpan.FromMilliseconds(50);

    /// <summary>The session as the server sees it now (state, and the error of a failed stream).</summary>
    public async Task<BackupSessionInfo> RefreshAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _client.Http.GetAsync(Routes.Backup(Id), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        Info = (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.BackupSessionInfo, cancellationToken).ConfigureAwait(false))!;
        return Info;
    }

    /// <summary>A database image as a stream of known length (header pages, every page, trailer).</summary>
    public Task<BackupStream> OpenDatabaseImageAsync(string database, CancellationToken cancellationToken = default) =>
        OpenStreamAsync(Routes.BackupImage(Id, database), $"image of database '{database}'", cancellationToken);

    /// <summary>Part of a database image: <paramref name="length"/> bytes from <paramref name="offset"/>, whole pages.
    /// Parts of one image may be read at once (see <see cref="ParallelImageStream"/>); the image counts as read once its
    /// parts cover it.</summary>
    public Task<BackupStream> OpenDatabaseImageRangeAsync(string database, long offset, long length, CancellationToken cancellationToken = default) =>
        OpenStreamAsync(Routes.BackupImageRange(Id, database, offset, length), $"bytes {offset}+{length} of the image of database '{database}'", cancellationToken);

    /// <summary>A changed-pages backup: the pages of a database changed since the base generation, as a stream of known
    /// length (header pages, page map, the pages, trailer). Only for a database whose info gives
    /// <see cref="BackupDatabaseInfo.ChangedPages"/>; read the whole image of the others.</summary>
    public Task<BackupStream> OpenChangedPagesAsync(string database, CancellationToken cancellationToken = default) =>
        OpenStreamAsync(Routes.BackupChangedPages(Id, database), $"changed pages of database '{database}'", cancellationToken);

    /// <summary>Part of a database image as chunk frames: cut into chunks of <paramref name="chunkSize"/> bytes (and at
    /// <paramref name="cuts"/>, offsets in the image; see <see cref="Protocol.Wire.ChunkLayout"/>), each hashed and
    /// encoded with <paramref name="codec"/> on the server. <paramref name="offset"/> must be a chunk's first byte.
    /// Only from a server whose <see cref="BackupSessionInfo.WireCodecs"/> names the codec.</summary>
    public Task<ChunkFrameReader> OpenImageChunksAsync(string database, long offset, long length, int chunkSize, IReadOnlyList<long> cuts, string codec, CancellationToken cancellationToken = default, bool unchanged = false) =>
        OpenChunksAsync(Routes.BackupImageChunks(Id, database, offset, length, chunkSize, cuts, codec, unchanged), $"chunks {offset}+{length} of the image of database '{database}'", cancellationToken);

    /// <summary>The changed pages of a database as chunk frames (see <see cref="OpenImageChunksAsync"/>).</summary>
    public Task<ChunkFrameReader> OpenChangedPagesChunksAsync(string database, int chunkSize, IReadOnlyList<long> cuts, string codec, CancellationToken cancellationToken = default) =>
        OpenChunksAsync(Routes.BackupChangedPagesChunks(Id, database, chunkSize, cuts, codec), $"changed pages of database '{database}'", cancellationToken);

    /// <summary>A log generation as chunk frames (see <see cref="OpenImageChunksAsync"/>).</summary>
    public Task<ChunkFrameReader> OpenLogChunksAsync(uint generation, int chunkSize, string codec, CancellationToken cancellationToken = default) =>
        OpenChunksAsync(Routes.BackupLogChunks(Id, generation, chunkSize, codec), $"log generation {generation}", cancellationToken);

    /// <summary>Tells the server the content hashes (SHA-256, 32 bytes each, concatenated) of chunks the repository
    /// holds: chunk frames then carry those without their payload. May be called more than once.</summary>
    /// <exception cref="BluebackApiException">The server refused (too many hashes: 413).</exception>
    public async Task SendKnownChunksAsync(ReadOnlyMemory<byte> hashes, CancellationToken cancellationToken = default)
    {
        using var content = new ReadOnlyMemoryContent(hashes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        using var response = await _client.Http.PostAsync(Routes.BackupKnownChunks(Id), content, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ChunkFrameReader> OpenChunksAsync(string route, string what, CancellationToken ct) =>
        new(await OpenStreamAsync(route, what, ct).ConfigureAwait(false), what);

    /// <summary>Fixes and lists the log range (after every database image was read and closed).</summary>
    public async Task<BackupLogsInfo> ListLogsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _client.Http.PostAsync(Routes.BackupLogs(Id), null, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.BackupLogsInfo, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>A backup begun with a digest: every table's digest at the end of the log range (after
    /// <see cref="ListLogsAsync"/>). The server computes it at low priority; this asks until it is ready.</summary>
    public async Task<IReadOnlyList<TableDigestInfo>> GetDigestAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            using var response = await _client.Http.GetAsync(Routes.BackupDigest(Id), cancellationToken).ConfigureAwait(false);
            await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
            var digest = (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.BackupDigestInfo, cancellationToken).ConfigureAwait(false))!;
            if (digest.Ready)
            {
                return digest.Tables;
            }
        }
    }

    /// <summary>A log generation of the backup's range (after <see cref="ListLogsAsync"/>), as a stream of known length.</summary>
    /// <param name="generation">A generation listed by <see cref="ListLogsAsync"/>.</param>
    /// <param name="cancellationToken">Stops the call and the stream's reads.</param>
    /// <exception cref="BluebackApiException">The server refused (a generation outside the range, a session that
    /// ended).</exception>
    public Task<BackupStream> OpenLogAsync(uint generation, CancellationToken cancellationToken = default) =>
        OpenStreamAsync(Routes.BackupLog(Id, generation), $"log generation {generation}", cancellationToken);

    /// <summary>Deletes on the server the generations this backup holds that crash recovery no longer needs.
    /// Call only once the backup set is durable at its destination.</summary>
    public async Task<IReadOnlyList<uint>> TruncateAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _client.Http.PostAsync(Routes.BackupTruncate(Id), null, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.TruncateResponse, cancellationToken).ConfigureAwait(false))!.Deleted;
    }

    /// <summary>Ends the backup successfully: the server records it in every database header.</summary>
    public async Task EndAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _client.Http.PostAsync(Routes.BackupEnd(Id), null, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _finished, 1);
        _keepAlive?.Dispose();
    }

    /// <summary>Aborts the backup on the server. Idempotent.</summary>
    public async Task AbortAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _client.Http.DeleteAsync(Routes.Backup(Id), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _finished, 1);
        _keepAlive?.Dispose();
    }

    private async Task<BackupStream> OpenStreamAsync(string route, string what, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, route);
        HttpResponseMessage? response = null;
        try
        {
            response = await _client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            await BluebackClient.EnsureAsync(response, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            var stream = new BackupStream(this, what, request, response, body, response.Content.Headers.ContentLength ?? -1);
            response = null;
            request = null;
            return stream;
        }
        catch (HttpRequestException ex) when (!ct.IsCancellationRequested)
        {
            // A bare "an error occurred while sending the request" said neither what was being read nor why.
            throw new BackupStreamException($"Asking the server for {what} failed: {ex.Message.TrimEnd('.')}{(ex.InnerException is { } inner ? $" ({inner.Message.TrimEnd('.')})" : "")}. The server went away or the network failed", ex);
        }
        finally
        {
            response?.Dispose();
            request?.Dispose();
        }
    }

    /// <summary>Aborts an unfinished session within <see cref="AbortBound"/>; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        _keepAlive?.Dispose();
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }
        await AbortQuietlyAsync(_client, Id, AbortBound).ConfigureAwait(false);
    }
}

/// <summary>An image or a log generation streaming from the server. A short body (the server cut the stream
/// because a read failed) raises <see cref="BackupStreamException"/> with the server's reason.</summary>
public sealed class BackupStream : Stream
{
    private readonly BackupSession _session;
    private readonly string _what;
    private readonly HttpRequestMessage _request;
    private readonly HttpResponseMessage _response;
    private readonly Stream _body;
    private readonly long _length;
    private long _position;

    internal BackupStream(BackupSession session, string what, HttpRequestMessage request, HttpResponseMessage response, Stream body, long length)
    {
        _session = session;
        _what = what;
        _request = request;
        _response = response;
        _body = body;
        _length = length;
    }

    /// <inheritdoc/>
    public override bool CanRead => true;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override bool CanWrite => false;
    /// <summary>The stream's length in bytes, as the server announced it.</summary>
    public override long Length => _length;

    /// <summary>Bytes read so far; setting it throws <see cref="NotSupportedException"/>.</summary>
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Reads the next bytes; 0 at the end.</summary>
    /// <exception cref="BackupStreamException">The stream ended early or failed on the server (the message says why, as
    /// the session reports it).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        try
        {
            n = await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or ObjectDisposedException && cancellationToken.IsCancellationRequested)
        {
            // A cancel that tears the connection down mid-read can surface as an I/O error: it is the caller's
            // cancel, and must read as one (a Ctrl+C that ended as "failed", exit 2, instead of 130).
            throw new OperationCanceledException($"Reading the {_what} was cancelled.", ex, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            throw await FailureAsync(ex, cancellationToken).ConfigureAwait(false);
        }
        _position += n;
        if (n == 0 && buffer.Length > 0 && _length >= 0 && _position < _length)
        {
            // A cancel can end the read with a short body rather than an exception: that is the caller's cancel, not a
            // failure to explain (asking the server why cost up to 2 s more on a Ctrl+C).
            cancellationToken.ThrowIfCancellationRequested();
            throw await FailureAsync(null, cancellationToken).ConfigureAwait(false);
        }
        return n;
    }

    /// <summary>The stream ended before what its reader expected (a frame stream has no announced length): the
    /// failure, with the server's reason.</summary>
    internal async Task<BackupStreamException> EndedEarlyAsync(string expected, CancellationToken ct)
    {
        var failure = await FailureAsync(null, ct).ConfigureAwait(false);
        return new BackupStreamException($"The {_what} ended after {_position} bytes, before {expected}: {failure.Reason}.", null);
    }

    private async Task<BackupStreamException> FailureAsync(Exception? inner, CancellationToken ct)
    {
        string? reason = null;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(2));
            reason = (await _session.RefreshAsync(cts.Token).ConfigureAwait(false)).Error;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or BluebackApiException)
        {
            // The reason is a courtesy; the failure stands without it.
        }
        var why = reason ?? inner?.Message ?? "the server closed the stream";
        return new BackupStreamException($"The {_what} ended after {_position} of {_length} bytes: {why}.", inner) { Reason = why };
    }

    /// <summary>Reads the next bytes into <paramref name="buffer"/> from <paramref name="offset"/>; see
    /// <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>.</summary>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Throws <see cref="NotSupportedException"/>: read backup streams asynchronously, with a
    /// CancellationToken.</summary>
    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("Read backup streams asynchronously (ReadAsync, CopyToAsync), with a CancellationToken.");

    /// <summary>Does nothing: the stream is read-only.</summary>
    public override void Flush()
    {
    }

    /// <summary>Throws <see cref="NotSupportedException"/>.</summary>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <summary>Throws <see cref="NotSupportedException"/>.</summary>
    public override void SetLength(long value) => throw new NotSupportedException();
    /// <summary>Throws <see cref="NotSupportedException"/>.</summary>
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Closes the response and its connection's share of the stream.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
            _response.Dispose();
            _request.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>A backup stream (an image, changed pages, a log generation) ended before its length or failed on the
/// server; the message gives the bytes read and the reason the session reports.</summary>
/// <param name="message">What failed and why.</param>
/// <param name="inner">The I/O or HTTP error underneath, if any.</param>
public sealed class BackupStreamException(string message, Exception? inner) : IOException(message, inner)
{
    /// <summary>Why the stream ended, as the session reported it (or the error underneath).</summary>
    public string? Reason { get; init; }
}
