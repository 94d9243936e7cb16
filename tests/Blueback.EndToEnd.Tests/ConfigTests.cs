using System.Net;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

public class ConfigTests
{
    [Fact(Timeout = 180_000)]
    [Trait(Tier.Category, Tier.Slow)]
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

    [Fact(Timeout = 180_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Limits_in_the_config_bound_batch_bodies_and_backup_sessions_and_bad_values_are_refused()
    {
        using var dir = new TempDir();
        var config = dir["blueback.json"];
        await File.WriteAllTextAsync(config, """
            { "instances": [ { "name": "a", "databases": [ { "name": "d" } ] }, { "name": "b", "databases": [ { "name": "d" } ] } ],
              "limits": { "maxBatchBodyBytes": 65536, "maxBackupSessions": 1 } }
            """);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        var big = new Protocol.BatchRequest { Ops = [new Protocol.BatchOp { Op = "put", Database = "d", Table = "t", Key = "k", Value = new string('v', 100_000) }] };
        var tooBig = await Assert.ThrowsAsync<BluebackApiException>(() => c.BatchAsync("a", big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.Status);
        Assert.Contains("maxBatchBodyBytes", tooBig.Message, StringComparison.Ordinal);
        await using (var first = await c.BeginBackupAsync("a", "full"))
        {
            var second = await Assert.ThrowsAsync<BluebackApiException>(() => c.BeginBackupAsync("b", "full"));
            Assert.Equal(HttpStatusCode.Conflict, second.Status);
            Assert.Contains("maxBackupSessions", second.Message, StringComparison.Ordinal);
        }

        await File.WriteAllTextAsync(dir["bad.json"], """{ "instances": [ { "name": "a", "databases": [ { "name": "d" } ] } ], "limits": { "maxConnections": 0 } }""");
        var refused = BackupProgramTests.Cli("serve", "--data", dir["data2"], "--config", dir["bad.json"]);
        Assert.Equal(2, refused.Exit);
        Assert.Contains("limits", refused.Err, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Backup_reads_run_on_threads_at_the_configured_lower_priority_and_bad_backup_settings_are_refused()
    {
        Assert.True(OperatingSystem.IsLinux(), "thread nice values are read from /proc: this test runs on Linux");
        using var dir = new TempDir();
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        {
            Assert.Equal([10, 10], BackupReadNice(server.Pid).Take(2)); // the default
            // A backup still runs at full speed on idle cores, through those threads.
            using var c = new BluebackClient(server.Url);
            await using var s = await c.BeginBackupAsync("store", "copy");
            await using var image = await s.OpenDatabaseImageAsync("mailbox");
            long read = 0;
            var buffer = new byte[1 << 20];
            for (int n; (n = await image.ReadAsync(buffer)) > 0;)
            {
                read += n;
            }
            Assert.Equal(image.Length, read);
        }
        var config = dir["blueback.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "a", "databases": [ { "name": "d" } ] } ], "backupReadNice": 0 }""");
        using (var server = await ServerProcess.StartAsync(dir["data3"], false, "--config", config))
        {
            Assert.All(BackupReadNice(server.Pid), n => Assert.Equal(0, n));
        }
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "a", "databases": [ { "name": "d" } ] } ], "backupReadNice": 19 }""");
        using (var server = await ServerProcess.StartAsync(dir["data4"], false, "--config", config))
        {
            // The lowest also takes the idle scheduling class.
            var threads = ThreadNice.Scheduling(server.Pid).Where(t => t.Name.StartsWith("blueback-backup", StringComparison.Ordinal)).ToList();
            Assert.True(threads.Count >= 2 && threads.All(t => t.Nice == 19 && t.Policy == ThreadNice.IdleClass), $"backup read threads (name, nice, class): [{string.Join(",", threads)}], expected (19, {ThreadNice.IdleClass})");
        }
        foreach (var (bad, name) in new[] { ("\"backupReadNice\": 20", "backupReadNice"), ("\"backupBusyRateMBps\": -1", "backupBusyRateMBps"), ("\"backupBusyFloorMBps\": 0", "backupBusyFloorMBps"), ("\"backupBusyFloorMBps\": 300", "backupBusyFloorMBps") })
        {
            await File.WriteAllTextAsync(config, $$"""{ "instances": [ { "name": "a", "databases": [ { "name": "d" } ] } ], {{bad}} }""");
            var refused = BackupProgramTests.Cli("serve", "--data", dir["data2"], "--config", config);
            Assert.Equal(2, refused.Exit);
            Assert.Contains(name, refused.Err, StringComparison.Ordinal);
        }
    }

    private static List<int> BackupReadNice(int pid)
    {
        var nice = ThreadNice.Of(pid, "blueback-backup");
        Assert.True(nice.Count >= 2, $"the server has {nice.Count} backup read threads; expected one per core, at least 2");
        return nice;
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
