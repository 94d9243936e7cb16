using System.Net.Http.Headers;
using System.Net.Http.Json;
using Blueback.Protocol;
using Blueback.Protocol.Wire;

namespace Blueback.Client;

/// <summary>A staged load on the server (a granular restore): rows are added in posts of about 4 MiB and staged on
/// the server's disk, then <see cref="CommitAsync"/> applies them all in one transaction. Disposing a load that was
/// not committed aborts it on the server within a bound (2 s), never throwing and never hanging; the server drops
/// what it staged, and the live table is untouched.</summary>
public sealed class LoadSession : IAsyncDisposable
{
    /// <summary>The rows one post carries, at most (a row larger than this goes alone).</summary>
    public const int PostBytes = 4 << 20;
    private static readonly MediaTypeHeaderValue OctetStream = new("application/octet-stream");
    private readonly BluebackClient _client;
    private readonly PooledBufferWriter _rows = new(PostBytes + (64 << 10));
    private bool _ended;

    private LoadSession(BluebackClient client, LoadInfo info)
    {
        _client = client;
        Info = info;
    }

    /// <summary>The load as the server last described it.</summary>
    public LoadInfo Info { get; private set; }

    /// <summary>Rows added so far (sent or waiting in the current post).</summary>
    public long Rows { get; private set; }

    /// <summary>Bytes of keys and values added so far.</summary>
    public long Bytes { get; private set; }

    internal static async Task<LoadSession> BeginAsync(BluebackClient client, string instance, BeginLoadRequest request, CancellationToken ct)
    {
        using var content = JsonContent.Create(request, ProtocolJson.Default.BeginLoadRequest);
        using var response = await client.Http.PostAsync(Routes.BeginLoad(instance), content, ct).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, ct).ConfigureAwait(false);
        return new LoadSession(client, (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.LoadInfo, ct).ConfigureAwait(false))!);
    }

    /// <summary>Adds a row; posts the rows gathered once they reach <see cref="PostBytes"/>.</summary>
    public async Task AddAsync(string table, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken ct)
    {
        if (_rows.WrittenMemory.Length > 0 && _rows.WrittenMemory.Length + RowFrames.SizeOf(table, key.Length, value.Length) > PostBytes)
        {
            await FlushAsync(ct).ConfigureAwait(false);
        }
        RowFrames.Write(_rows, table, key.Span, value.Span);
        Rows++;
        Bytes += key.Length + value.Length;
    }

    /// <summary>Posts the rows gathered so far, if any.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        if (_rows.WrittenMemory.Length == 0)
        {
            return;
        }
        using var content = new ReadOnlyMemoryContent(_rows.WrittenMemory);
        content.Headers.ContentType = OctetStream;
        using var response = await _client.Uploads.PostAsync(Routes.LoadRows(Info.Id), content, ct).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, ct).ConfigureAwait(false);
        Info = (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.LoadInfo, ct).ConfigureAwait(false))!;
        _rows.Reset();
    }

    /// <summary>Posts what is left and commits every row in one transaction.</summary>
    /// <exception cref="BluebackApiException">The server refused (409: the new table exists already; 413: more than one
    /// transaction holds); nothing was applied.</exception>
    public async Task<LoadCommitResponse> CommitAsync(CancellationToken ct)
    {
        await FlushAsync(ct).ConfigureAwait(false);
        _ended = true; // committed or refused, the server has ended the load either way
        using var response = await _client.Uploads.PostAsync(Routes.LoadCommit(Info.Id), null, ct).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, ct).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.LoadCommitResponse, ct).ConfigureAwait(false))!;
    }

    /// <summary>Aborts the load unless it was committed (bounded, never throws).</summary>
    public async ValueTask DisposeAsync()
    {
        _rows.Dispose();
        if (_ended)
        {
            return;
        }
        _ended = true;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            using var response = await _client.Http.DeleteAsync(Routes.Load(Info.Id), cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The server is gone or slow: its lease aborts the load.
        }
    }
}
