using System.Diagnostics;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary>What a new operator met (issue 34): one server per data directory, and the messages of the errors met.</summary>
public class OperatorTests
{
    /// <summary>The program, killed if it has not exited within <paramref name="bound"/> (a server that should have
    /// been refused would otherwise run on).</summary>
    internal static (int Exit, string Out, string Err) Run(TimeSpan bound, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(bound))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
            Assert.Fail($"blueback {string.Join(' ', args)} did not exit within {bound.TotalSeconds} s. Output:\n{o.Result}\n{e.Result}");
        }
        return (p.ExitCode, o.Result, e.Result);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_second_server_on_the_same_data_directory_is_refused_naming_the_directory_and_the_holder()
    {
        using var dir = new TempDir();
        var other = dir["other.json"];
        await File.WriteAllTextAsync(other, """{ "instances": [ { "name": "elsewhere", "databases": [ { "name": "d" } ] } ] }""");
        using var server = await ServerProcess.StartAsync(dir["data"]);
        var second = Run(TimeSpan.FromSeconds(60), "serve", "--data", dir["data"], "--config", other, "--listen", "http://127.0.0.1:0");
        Assert.Equal(2, second.Exit);
        Assert.Contains(Path.GetFullPath(dir["data"]), second.Err, StringComparison.Ordinal);
        Assert.Contains($"PID {server.Pid}", second.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", second.Err, StringComparison.Ordinal);
        // The internal socket is nowhere in the directory for anyone to take over, and the first server still serves.
        Assert.False(Directory.Exists(Path.Combine(dir["data"], "run")), "DATA/run exists: the internal socket should be in the abstract namespace");
        using var c = new BluebackClient(server.Url);
        await c.PutAsync("store", "mailbox", "t", "k"u8.ToArray(), "v"u8.ToArray());
        Assert.Equal(2, (await c.StatusAsync()).Instances.Count);
    }

    [Fact(Timeout = 120_000)]
    public async Task Config_check_and_policy_set_refuse_a_typo_naming_the_key_meant()
    {
        using var dir = new TempDir();
        var good = dir["good.json"];
        await File.WriteAllTextAsync(good, """{ "instances": [ { "name": "store", "databases": [ { "name": "mailbox" } ] } ] }""");
        var ok = Run(TimeSpan.FromSeconds(60), "config", "check", good);
        Assert.Equal(0, ok.Exit);
        Assert.Contains("valid", ok.Out, StringComparison.Ordinal);
        var bad = dir["bad.json"];
        await File.WriteAllTextAsync(bad, """
            { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" } ] } ],
              "policies": [ { "name": "p", "instance": "store", "repository": { "location": "/r" }, "full": "7d", "incremetal": "1h" } ] }
            """);
        var refused = Run(TimeSpan.FromSeconds(60), "config", "check", bad);
        Assert.Equal(2, refused.Exit);
        Assert.Contains("line 2", refused.Err, StringComparison.Ordinal);
        Assert.Contains("did you mean \"incremental\"?", refused.Err, StringComparison.Ordinal);

        using var server = await ServerProcess.StartAsync(dir["data"]);
        var policy = dir["policy.json"];
        await File.WriteAllTextAsync(policy, $$"""{ "name": "p", "instance": "store", "repository": { "location": "{{dir["repo"]}}" }, "full": "7d", "incremetal": "1h" }""");
        var set = Run(TimeSpan.FromSeconds(60), "policy", "set", "--file", policy, "--server", server.Url);
        Assert.Equal(2, set.Exit);
        Assert.Contains("did you mean \"incremental\"?", set.Err, StringComparison.Ordinal);
        await File.WriteAllTextAsync(policy, $$"""{ "name": "p", "instance": "store", "repository": { "location": "{{dir["repo"]}}" }, "full": "5s" }""");
        set = Run(TimeSpan.FromSeconds(60), "policy", "set", "--file", policy, "--server", server.Url);
        Assert.Equal(2, set.Exit);
        Assert.Contains("\"full\" is '5s'", set.Err, StringComparison.Ordinal);
        // Straight to the API, past the program: the server is as strict.
        using var http = TestToken.Http(server.Url);
        using var put = await http.PutAsync("/v1/policies/p", new StringContent("""{ "name": "p", "instance": "store", "repository": { "location": "/r" }, "full": "7d", "incremetal": "1h" }"""));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains("incremental", await put.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact(Timeout = 240_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Verify_prove_and_restore_accept_the_short_set_id_the_console_and_policy_history_show()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, Run(TimeSpan.FromSeconds(60), "repo", "init", repo).Exit);
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await c.PutAsync("store", "mailbox", "t", "k"u8.ToArray(), "v"u8.ToArray());
        Assert.Equal(0, Run(TimeSpan.FromSeconds(120), "backup", "--server", server.Url, "--repo", repo, "--instance", "store").Exit);
        var list = System.Text.Json.JsonDocument.Parse(Run(TimeSpan.FromSeconds(60), "list", "--repo", repo, "--json").Out).RootElement;
        var id = list[0].GetProperty("id").GetString()!;
        var shortId = id[..8];
        var verify = Run(TimeSpan.FromSeconds(120), "verify", "--repo", repo, "--set", shortId);
        Assert.True(verify.Exit == 0, verify.Err);
        Assert.Contains(id, verify.Out, StringComparison.Ordinal);
        var prove = Run(TimeSpan.FromSeconds(120), "prove", "--repo", repo, "--set", shortId, "--scratch", dir["scratch"]);
        Assert.True(prove.Exit == 0, prove.Err);
        var restore = Run(TimeSpan.FromSeconds(120), "restore", "--repo", repo, "--set", shortId, "--to", dir["restored"]);
        Assert.True(restore.Exit == 0, restore.Err);
        var tooShort = Run(TimeSpan.FromSeconds(60), "verify", "--repo", repo, "--set", id[..4]);
        Assert.Equal(2, tooShort.Exit);
        Assert.Contains("at least 8", tooShort.Err, StringComparison.Ordinal);
        Assert.Equal(3, Run(TimeSpan.FromSeconds(60), "verify", "--repo", repo, "--set", "ffffffffffff").Exit);
    }

    [Fact(Timeout = 180_000)]
    public async Task The_errors_a_new_operator_met_name_the_object_and_what_to_do_without_a_stack_trace()
    {
        using var dir = new TempDir();
        var file = dir["afile"];
        await File.WriteAllTextAsync(file, "not a directory");

        var list = Run(TimeSpan.FromSeconds(60), "list", "--repo", file);
        Assert.Equal(2, list.Exit);
        Assert.Contains("is a file, not a repository", list.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("repo init'.", list.Err.Split("is a file")[0], StringComparison.Ordinal);

        var repo = dir["repo"];
        Assert.Equal(0, Run(TimeSpan.FromSeconds(60), "repo", "init", repo).Exit);
        var restore = Run(TimeSpan.FromSeconds(60), "restore", "--repo", repo, "--to", file);
        Assert.Equal(2, restore.Exit);
        Assert.Contains($"'{file}' is a file", restore.Err, StringComparison.Ordinal);

        var load = Run(TimeSpan.FromSeconds(60), "load", "--token-file", dir["nosuch"], "--seconds", "1");
        Assert.Equal(2, load.Exit);
        Assert.Contains(dir["nosuch"], load.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", load.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("unexpected", load.Err, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(repo, "config.json"), "{ damaged");
        var damaged = Run(TimeSpan.FromSeconds(60), "list", "--repo", repo);
        Assert.Equal(2, damaged.Exit);
        Assert.Contains(Path.Combine(repo, "config.json"), damaged.Err, StringComparison.Ordinal);
        Assert.Contains("repo init LOCATION --from-key", damaged.Err, StringComparison.Ordinal);

        var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
            var serve = Run(TimeSpan.FromSeconds(60), "serve", "--data", dir["data"], "--listen", $"http://127.0.0.1:{port}");
            Assert.Equal(2, serve.Exit);
            Assert.Contains($"Port {port}", serve.Err, StringComparison.Ordinal);
            Assert.Contains("in use", serve.Err, StringComparison.Ordinal);
            Assert.True(serve.Err.Length < 600, serve.Err);
            Assert.False(Directory.Exists(dir["data"]), "serve on a busy port made the data directory (and a token) first");
        }
        finally
        {
            busy.Stop();
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Two_SIGTERMs_at_once_as_timeout_sends_them_stop_the_server_gracefully()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        server.Signal(15);
        server.Signal(15);
        await server.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.DoesNotContain("second signal, exiting at once", server.Output, StringComparison.Ordinal);
        Assert.Contains("Stopped cleanly", server.Output, StringComparison.Ordinal);
        Assert.Equal(0, server.ExitCode);
    }

    [Fact(Timeout = 180_000)]
    public async Task A_scan_page_holds_at_most_four_MiB_of_values_and_the_continuation_gets_the_rest()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var value = new byte[1_500_000];
        for (int i = 0; i < 7; i++)
        {
            value[0] = (byte)i;
            await c.PutAsync("store", "mailbox", "big", System.Text.Encoding.UTF8.GetBytes($"k{i}"), value);
        }
        var keys = new List<string>();
        string? from = null;
        int pages = 0;
        while (true)
        {
            var page = await c.ScanAsync("store", "mailbox", "big", from: from, limit: 1000);
            pages++;
            Assert.True(page.Items.Sum(it => Convert.FromBase64String(it.Value).Length) <= Protocol.Routes.Limits.MaxScanPageBytes, $"page {pages} holds {page.Items.Count} values of 1.5 MB");
            keys.AddRange(page.Items.Select(it => it.Key));
            if (page.Next is null)
            {
                break;
            }
            from = page.Next.From;
            Assert.True(pages < 10, "the scan does not end");
        }
        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"k{i}"), keys);
        Assert.Equal(4, pages);
    }

    [Fact(Timeout = 240_000)]
    public async Task An_encrypted_repositorys_lost_config_is_rebuilt_from_its_key_export()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        var key = dir["repo.key"];
        var init = Run(TimeSpan.FromSeconds(60), "repo", "init", repo, "--encrypt", "--key-file", key);
        Assert.Equal(0, init.Exit);
        Assert.Contains("repo key export", init.Out, StringComparison.Ordinal);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        {
            Assert.Equal(0, Run(TimeSpan.FromSeconds(120), "backup", "--server", server.Url, "--repo", repo, "--key-file", key, "--instance", "store").Exit);
        }
        var export = dir["repo.export"];
        Assert.Equal(0, Run(TimeSpan.FromSeconds(60), "repo", "key", "export", "--repo", repo, "--key-file", key, "--out", export).Exit);
        var before = Run(TimeSpan.FromSeconds(60), "list", "--repo", repo, "--key-file", key);
        Assert.Equal(0, before.Exit);

        // Another repository's export is refused, and changes nothing.
        var other = dir["other"];
        Assert.Equal(0, Run(TimeSpan.FromSeconds(60), "repo", "init", other, "--encrypt", "--key-file", dir["other.key"]).Exit);
        Assert.Equal(0, Run(TimeSpan.FromSeconds(60), "repo", "key", "export", "--repo", other, "--key-file", dir["other.key"], "--out", dir["other.export"]).Exit);

        var config = Path.Combine(repo, "config.json");
        await File.WriteAllTextAsync(config, "{ lost");
        Assert.Equal(2, Run(TimeSpan.FromSeconds(60), "list", "--repo", repo, "--key-file", key).Exit);
        var wrong = Run(TimeSpan.FromSeconds(60), "repo", "init", repo, "--from-key", dir["other.export"], "--key-file", dir["other.key"]);
        Assert.Equal(2, wrong.Exit);
        Assert.Equal("{ lost", await File.ReadAllTextAsync(config));

        var rebuilt = Run(TimeSpan.FromSeconds(60), "repo", "init", repo, "--from-key", export, "--key-file", key);
        Assert.True(rebuilt.Exit == 0, rebuilt.Err);
        var after = Run(TimeSpan.FromSeconds(60), "list", "--repo", repo, "--key-file", key);
        Assert.Equal(0, after.Exit);
        Assert.Equal(before.Out, after.Out);
        var again = Run(TimeSpan.FromSeconds(60), "repo", "init", repo, "--from-key", export, "--key-file", key);
        Assert.Equal(2, again.Exit);
        Assert.Contains("is readable", again.Err, StringComparison.Ordinal);
    }
}
