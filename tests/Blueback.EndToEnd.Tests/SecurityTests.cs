using System.Net;
using System.Net.Http.Headers;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Who may do what: bearer tokens with roles, kept as salted hashes, made and revoked by an admin; 401
/// without a valid token, 403 with the wrong role, counted in metrics.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class SecurityTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    [Fact(Timeout = 180_000)]
    public async Task Without_a_valid_token_every_route_but_health_answers_401_and_each_role_gets_exactly_its_routes()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var anonymous = new HttpClient { BaseAddress = new Uri(server.Url) };
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(Routes.Health)).StatusCode);
        foreach (var route in new[] { Routes.Status, Routes.Metrics, Routes.Key("store", "mailbox", "t", "k"u8), Routes.Backups, Routes.Tokens })
        {
            using var r = await anonymous.GetAsync(route);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
            Assert.Equal("Bearer", r.Headers.WwwAuthenticate.Single().Scheme);
        }
        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "bbt_0123abcd_notthesecretnotthesecret");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(Routes.Status)).StatusCode);

        // The admin makes a token per role; each is printed once.
        var tokens = new Dictionary<string, string>();
        foreach (var role in new[] { "read", "write", "backup", "restore" })
        {
            var made = Cli("token", "create", "--server", server.Url, "--role", role, "--name", $"test {role}");
            Assert.True(made.Exit == 0, made.Err);
            tokens[role] = made.Out.Trim();
            Assert.StartsWith("bbt_", tokens[role], StringComparison.Ordinal);
        }
        Assert.Equal(2, Cli("token", "create", "--server", server.Url, "--role", "superuser").Exit);

        async Task<HttpStatusCode> Call(string role, HttpMethod method, string route, HttpContent? body = null)
        {
            using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens[role]);
            using var r = await http.SendAsync(new HttpRequestMessage(method, route) { Content = body });
            return r.StatusCode;
        }
        var key = Routes.Key("store", "mailbox", "t", "k"u8);
        Assert.Equal(HttpStatusCode.NoContent, await Call("write", HttpMethod.Put, key, new ByteArrayContent("v"u8.ToArray())));
        Assert.Equal(HttpStatusCode.OK, await Call("write", HttpMethod.Get, key));
        Assert.Equal(HttpStatusCode.OK, await Call("read", HttpMethod.Get, key));
        Assert.Equal(HttpStatusCode.Forbidden, await Call("read", HttpMethod.Put, key, new ByteArrayContent("v"u8.ToArray())));
        Assert.Equal(HttpStatusCode.Forbidden, await Call("backup", HttpMethod.Get, key));
        Assert.Equal(HttpStatusCode.Forbidden, await Call("restore", HttpMethod.Get, key));
        Assert.Equal(HttpStatusCode.Forbidden, await Call("write", HttpMethod.Get, Routes.Backups));
        Assert.Equal(HttpStatusCode.OK, await Call("backup", HttpMethod.Get, Routes.Backups));
        Assert.Equal(HttpStatusCode.Forbidden, await Call("backup", HttpMethod.Get, Routes.Tokens));
        Assert.Equal(HttpStatusCode.OK, await Call("read", HttpMethod.Get, Routes.Status));
        Assert.Equal(HttpStatusCode.NotFound, await Call("restore", HttpMethod.Get, Routes.Restore("0123")));
        Assert.Equal(HttpStatusCode.Forbidden, await Call("backup", HttpMethod.Get, Routes.Restore("0123")));

        // A backup program with a backup token, from a file: the whole backup works; with a read token it is refused.
        var backupFile = dir["backup.token"];
        await File.WriteAllTextAsync(backupFile, tokens["backup"]);
        var readFile = dir["read.token"];
        await File.WriteAllTextAsync(readFile, tokens["read"]);
        Assert.Equal(0, Cli("repo", "init", dir["repo"]).Exit);
        var ok = Cli("backup", "--server", server.Url, "--repo", dir["repo"], "--token-file", backupFile);
        Assert.True(ok.Exit == 0, ok.Err);
        var refused = Cli("backup", "--server", server.Url, "--repo", dir["repo"], "--token-file", readFile);
        Assert.NotEqual(0, refused.Exit);
        Assert.Contains("403", refused.Err, StringComparison.Ordinal);
        Assert.Contains("'backup'", refused.Err, StringComparison.Ordinal);

        // Revoked: the next call gets 401. Listing never shows a secret.
        var list = Cli("token", "list", "--server", server.Url);
        Assert.True(list.Exit == 0, list.Err);
        Assert.DoesNotContain(tokens["read"], list.Out, StringComparison.Ordinal);
        var readId = tokens["read"].Split('_')[1];
        Assert.Contains(readId, list.Out, StringComparison.Ordinal);
        Assert.Equal(0, Cli("token", "revoke", "--server", server.Url, readId).Exit);
        Assert.Equal(HttpStatusCode.Unauthorized, await Call("read", HttpMethod.Get, key));

        // Stored only as salted hashes; every refusal counted.
        var stored = await File.ReadAllTextAsync(Path.Combine(dir["data"], "auth", "tokens.json"));
        foreach (var t in tokens.Values.Append(TestToken.Value))
        {
            // The secret is everything after the id: it may itself hold '_' (base64url), so no Split here.
            Assert.DoesNotContain(t[(t.IndexOf('_', t.IndexOf('_', StringComparison.Ordinal) + 1) + 1)..], stored, StringComparison.Ordinal);
        }
        using var admin = TestToken.Http(server.Url);
        var metrics = await admin.GetStringAsync(Routes.Metrics);
        Assert.Contains("blueback_auth_failures", metrics, StringComparison.Ordinal);
        Assert.Contains("reason=\"forbidden\"", metrics, StringComparison.Ordinal);
        Assert.Contains("reason=\"missing\"", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain(tokens["write"], server.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task On_first_start_the_server_makes_an_admin_token_readable_only_by_its_user_and_data_finds_it()
    {
        using var dir = new TempDir();
        var data = dir["data"];
        using var server = await ServerProcess.StartWithOwnTokenAsync(data);
        var path = Path.Combine(data, "auth", "admin.token");
        Assert.Contains($"created an admin token in {path}", server.Output, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "auth", "tokens.json")));
        var token = (await File.ReadAllTextAsync(path)).Trim();
        Assert.DoesNotContain(token[(token.IndexOf('_', token.IndexOf('_', StringComparison.Ordinal) + 1) + 1)..], await File.ReadAllTextAsync(Path.Combine(data, "auth", "tokens.json")), StringComparison.Ordinal);

        // The test run's token means nothing to this server; --data finds the server's own, and wins over BLUEBACK_TOKEN.
        Assert.NotEqual(0, Cli("token", "list", "--server", server.Url).Exit);
        var list = Cli("token", "list", "--server", server.Url, "--data", data);
        Assert.True(list.Exit == 0, list.Err);
        Assert.Contains("admin (first start)", list.Out, StringComparison.Ordinal);
        using var c = new BluebackClient(server.Url, token: token);
        Assert.NotEmpty((await c.StatusAsync()).Instances);
    }
}
