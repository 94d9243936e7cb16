using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>The data and status API of a Blueback server. Every call takes a CancellationToken and is bounded
/// by the client's timeout.</summary>
public sealed class BluebackClient : IDisposable
{
    private static readonly MediaTypeHeaderValue OctetStream = new("application/octet-stream");
    private readonly SocketsHttpHandler _handler;
    private readonly HttpClient _http;
    private readonly HttpClient _uploads;

    /// <summary>Environment variable a token is taken from when none is given.</summary>
    public const string TokenVariable = "BLUEBACK_TOKEN";

    /// <summary>A client of the server at <paramref name="server"/>. Making it connects to nothing; the first call does.</summary>
    /// <param name="server">http://HOST:PORT, https://HOST:PORT or unix:/path/to.sock (see <see cref="ServerAddress"/>).</param>
    /// <param name="timeout">The bound of each call (60 s when null); uploads are bounded by their caller's token instead.</param>
    /// <param name="token">The bearer token for every call; null: the BLUEBACK_TOKEN environment variable, if set.</param>
    /// <param name="trust">For https://: a CA or a pinned fingerprint to trust instead of the system's roots.</param>
    /// <exception cref="ArgumentException"><paramref name="server"/> is not such an address.</exception>
    public BluebackClient(string server, TimeSpan? timeout = null, string? token = null, ServerTrust? trust = null)
    {
        Server = server;
        token ??= Environment.GetEnvironmentVariable(TokenVariable);
        _handler = ServerAddress.CreateHandler(server, out var baseAddress, trust);
        _http = new HttpClient(_handler, disposeHandler: false) { BaseAddress = baseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        // A whole database image may take longer than any fixed timeout to send: uploads are bounded by their
        // caller's token and by the server's lease instead.
        _uploads = new HttpClient(_handler, disposeHandler: false) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (!string.IsNullOrWhiteSpace(token))
        {
            var auth = new AuthenticationHeaderValue("Bearer", token.Trim());
            _http.DefaultRequestHeaders.Authorization = auth;
            _uploads.DefaultRequestHeaders.Authorization = auth;
        }
    }

    /// <summary>The server address this client was made for.</summary>
    public string Server { get; }

    /// <summary>Whether a backup session begun by this client renews its lease in the background while it is open
    /// (true by default: a program busy on its own side between calls keeps its session). False: only the session's
    /// own calls renew it, so a program that stops calling loses it at its lease.</summary>
    public bool RenewsLeases { get; init; } = true;

    /// <summary>Writes <paramref name="value"/> under <paramref name="key"/> in a table (created by its first put), committed
    /// before this returns.</summary>
    /// <exception cref="BluebackApiException">The server refused (no such instance or database, a key or value too long,
    /// a missing role).</exception>
    public async Task PutAsync(string instance, string database, string table, byte[] key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        using var content = new ReadOnlyMemoryContent(value);
        content.Headers.ContentType = OctetStream;
        using var response = await _http.PutAsync(Routes.Key(instance, database, table, key), content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The value, or null when the key is absent.</summary>
    public async Task<byte[]?> GetAsync(string instance, string database, string table, byte[] key, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(Routes.Key(instance, database, table, key), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound && await ProblemAsync(response, cancellationToken).ConfigureAwait(false) is { } p && p.Detail.StartsWith("Key ", StringComparison.Ordinal))
        {
            return null;
        }
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes <paramref name="key"/> from a table, committed before this returns; an absent key is not an
    /// error.</summary>
    /// <exception cref="BluebackApiException">The server refused (no such instance or database, a missing role).</exception>
    public async Task DeleteAsync(string instance, string database, string table, byte[] key, CancellationToken cancellationToken = default)
    {
        using var response = await _http.DeleteAsync(Routes.Key(instance, database, table, key), cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One page of a table's keys in order: from <paramref name="from"/> (inclusive) to <paramref name="to"/>
    /// (exclusive), each as text or as "base64:" and the key's bytes; at most <paramref name="limit"/> keys (the server's
    /// default when null), backwards when <paramref name="reverse"/>. <see cref="ScanResponse.Next"/> gives the bounds of
    /// the next page.</summary>
    /// <exception cref="BluebackApiException">The server refused.</exception>
    public async Task<ScanResponse> ScanAsync(string instance, string database, string table, string? from = null, string? to = null, int? limit = null, bool reverse = false, CancellationToken cancellationToken = default)
    {
        var q = new List<string>();
        if (from is not null)
        {
            q.Add("from=" + Uri.EscapeDataString(from));
        }
        if (to is not null)
        {
            q.Add("to=" + Uri.EscapeDataString(to));
        }
        if (limit is not null)
        {
            q.Add("limit=" + limit.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (reverse)
        {
            q.Add("reverse=true");
        }
        var url = Routes.Keys(instance, database, table) + (q.Count > 0 ? "?" + string.Join('&', q) : "");
        using var response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.ScanResponse, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Commits the batch atomically; returns where its commit lies, a stop point for a restore.</summary>
    public async Task<CommitPoint> BatchAsync(string instance, BatchRequest batch, CancellationToken cancellationToken = default)
    {
        using var body = new PooledBufferWriter();
        using (var writer = new Utf8JsonWriter(body))
        {
            JsonSerializer.Serialize(writer, batch, ProtocolJson.Default.BatchRequest);
        }
        return await BatchJsonAsync(instance, body.WrittenMemory, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Puts many values of the same bytes (a load generator's batch) with the value's base64 encoded
    /// once, not once per operation.</summary>
    public async Task BatchPutSameValueAsync(string instance, string database, string table, IReadOnlyList<string> keys, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        using var body = new PooledBufferWriter();
        var quoted = JsonSerializer.SerializeToUtf8Bytes(Convert.ToBase64String(value.Span), ProtocolJson.Default.String);
        using (var w = new Utf8JsonWriter(body))
        {
            w.WriteStartObject();
            w.WriteStartArray("ops");
            foreach (var k in keys)
            {
                w.WriteStartObject();
                w.WriteString("op", "put");
                w.WriteString("database", database);
                w.WriteString("table", table);
                w.WriteString("key", k);
                w.WritePropertyName("valueBase64");
                w.WriteRawValue(quoted, skipInputValidation: true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        await BatchJsonAsync(instance, body.WrittenMemory, cancellationToken).ConfigureAwait(false);
    }

    private async Task<CommitPoint> BatchJsonAsync(string instance, ReadOnlyMemory<byte> json, CancellationToken cancellationToken)
    {
        using var content = new ReadOnlyMemoryContent(json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await _http.PostAsync(Routes.Batch(instance), content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return CommitPoint.From(response);
    }

    /// <summary>The server, its instances and databases: states, log positions, last backups, shipping.</summary>
    /// <exception cref="BluebackApiException">The server refused (a token without the read role).</exception>
    public async Task<StatusResponse> StatusAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(Routes.Status, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.StatusResponse, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>True when the server answers its health route with success; false for an error answer.</summary>
    /// <exception cref="HttpRequestException">The server could not be reached.</exception>
    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(Routes.Health, cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode;
    }

    internal HttpClient Http => _http;

    internal HttpClient Uploads => _uploads;

    /// <summary>Begins an online backup of an instance (full, copy, incremental or differential).</summary>
    public Task<BackupSession> BeginBackupAsync(string instance, string type, CancellationToken cancellationToken = default) =>
        BackupSession.BeginAsync(this, instance, new BeginBackupRequest { Type = type }, cancellationToken);

    /// <summary>Begins a changed-pages incremental or differential backup: the pages changed since the start of
    /// generation <paramref name="changedSince"/> (the base set's first) are read instead of the logs since the previous
    /// backup; a database whose changes cannot be known says why and is read whole.</summary>
    public Task<BackupSession> BeginBackupAsync(string instance, string type, uint changedSince, CancellationToken cancellationToken = default) =>
        BackupSession.BeginAsync(this, instance, new BeginBackupRequest { Type = type, ChangedSince = changedSince }, cancellationToken);

    /// <summary>Begins a backup as <paramref name="request"/> says (its type, changed pages, a digest); the id is the
    /// library's own.</summary>
    public Task<BackupSession> BeginBackupAsync(string instance, BeginBackupRequest request, CancellationToken cancellationToken = default) =>
        BackupSession.BeginAsync(this, instance, request, cancellationToken);

    /// <summary>Begins an online restore into <paramref name="instance"/>: a new instance, or (mode "replace") in
    /// place of a live one, which the server takes offline until the restore ends.</summary>
    public Task<RestoreSession> BeginRestoreAsync(string instance, BeginRestoreRequest request, CancellationToken cancellationToken = default) =>
        RestoreSession.BeginAsync(this, instance, request, cancellationToken);

    /// <summary>Begins a staged load into <paramref name="instance"/> (the restore role): rows added to it are staged on
    /// the server and committed in one transaction (a granular restore).</summary>
    public Task<LoadSession> BeginLoadAsync(string instance, BeginLoadRequest request, CancellationToken cancellationToken = default) =>
        LoadSession.BeginAsync(this, instance, request, cancellationToken);

    /// <summary>Promotes a warm standby (admin): it applies what is left (down to <paramref name="stop"/>, a time in
    /// ISO 8601 or a log position GEN:OFFSET, when given), starts a new log stream and takes writes.</summary>
    public async Task<PromoteResponse> PromoteAsync(string instance, string? stop = null, CancellationToken cancellationToken = default)
    {
        using var response = await _http.PostAsync(Routes.Promote(instance, stop), null, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.PromoteResponse, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Creates a token with <paramref name="role"/> (admin only); the answer holds its secret, once.</summary>
    public async Task<TokenInfo> CreateTokenAsync(string role, string? name, CancellationToken cancellationToken = default)
    {
        using var content = JsonContent.Create(new CreateTokenRequest { Role = role, Name = name }, ProtocolJson.Default.CreateTokenRequest);
        using var response = await _http.PostAsync(Routes.Tokens, content, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.TokenInfo, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>The server's tokens, without their secrets (admin only; <see cref="BluebackApiException"/>
    /// otherwise).</summary>
    public async Task<List<TokenInfo>> ListTokensAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(Routes.Tokens, cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.ListTokenInfo, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Revokes the token <paramref name="id"/> (admin only): calls made with it are refused from now
    /// on.</summary>
    public async Task RevokeTokenAsync(string id, CancellationToken cancellationToken = default)
    {
        using var response = await _http.DeleteAsync(Routes.Token(id), cancellationToken).ConfigureAwait(false);
        await EnsureAsync(response, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task EnsureAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var problem = await ProblemAsync(response, ct).ConfigureAwait(false);
        throw new BluebackApiException(response.StatusCode, problem, response.ReasonPhrase ?? "");
    }

    private static async Task<Problem?> ProblemAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return null;
        }
        try
        {
            await response.Content.LoadIntoBufferAsync(ct).ConfigureAwait(false);
            return await response.Content.ReadFromJsonAsync(ProtocolJson.Default.Problem, ct).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Closes the client's connections.</summary>
    public void Dispose()
    {
        _http.Dispose();
        _uploads.Dispose();
        _handler.Dispose();
    }
}
