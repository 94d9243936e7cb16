using System.Net;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

public class ConfigTests
{
    [Fact(Timeout = 180_000)]
    public async Task A_config_file_declares_instances_databases_and_engine_settings()
    {
        using var dir = new TempDir();
        var config = dir["blueback.json"];
        await File.WriteAllTextAsync(config, """
            {
              // comments are allowed
              "instances": [
                { "name": "archive", "circularLogging": true, "logGenerationSize": 1048576, "cacheSize": 33554432,
                  "databases": [ { "name": "old", "pageSize": 4096 }, { "name": "older" } ] }
              ],
              "shutdownTimeoutSeconds": 3
            }
            """);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        var status = await c.StatusAsync();
        var archive = Assert.Single(status.Instances);
        Assert.Equal("archive", archive.Name);
        Assert.True(archive.CircularLogging);
        Assert.Equal([4096, 8192], archive.Databases.Select(d => d.PageSize));
        await c.PutAsync("archive", "old", "t", "k"u8.ToArray(), "v"u8.ToArray());
        var ex = await Assert.ThrowsAsync<BluebackApiException>(() => c.PutAsync("store", "mailbox", "t", "k"u8.ToArray(), "v"u8.ToArray()));
        Assert.Equal(HttpStatusCode.NotFound, ex.Status);
        Assert.Contains("archive", ex.Message, StringComparison.Ordinal);
        using var http = TestToken.Http(server.Url);
        using var resp = await http.GetAsync("/nope");
        Assert.Equal(HttpStatusCode.NotFound, resp.StatusCode);
        Assert.Equal("application/problem+json", resp.Content.Headers.ContentType?.MediaType);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_bad_config_file_stops_the_server_with_a_clear_message()
    {
        using var dir = new TempDir();
        var config = dir["bad.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "../x", "databases": [ { "name": "d" } ] } ] }""");
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(dir["data"], false, "--config", config));
        Assert.Contains("not valid", ex.Message, StringComparison.Ordinal);
    }
}
