using Blueback.Protocol;
using Blueback.Server.Policies;

namespace Blueback.Server.Tests;

/// <summary>The config file read strictly (issue 34): a typo, a wrong type or an absurd schedule is refused naming the
/// key and its line, with the nearest known key suggested; nothing is silently ignored.</summary>
public class StrictConfigTests
{
    private static string Load(string json)
    {
        var path = Path.Combine(Path.GetTempPath(), $"bb-config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            return Assert.Throws<ServerConfigException>(() => ServerConfig.Load(path)).Message;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private const string Instances = """
        { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" } ] } ],
        """ + "\n";

    [Fact(Timeout = 60_000)]
    public async Task A_config_made_in_code_is_checked_as_a_file_is()
    {
        // A program embedding the server (the demo) hands it a config object: the same checks, before anything starts.
        var config = ServerConfig.Default();
        config.BackupBusyFloorMBps = 0.001;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // were it to start after all, it stops
        var ex = await Assert.ThrowsAsync<ServerConfigException>(() => BluebackServer.RunAsync(
            new ServeOptions { DataDirectory = Path.Combine(Path.GetTempPath(), $"bb-never-{Guid.NewGuid():N}"), Listen = [], Config = config }, TextWriter.Null, bound.Token));
        Assert.Contains("The server config given in code: \"backupBusyFloorMBps\" is 0.001", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_key_in_a_policy_is_refused_naming_its_line_and_the_key_meant()
    {
        var message = Load(Instances + """
          "policies": [ { "name": "p", "instance": "store", "repository": { "location": "/r" }, "full": "7d",
                          "incremetal": "1h" } ] }
        """);
        Assert.Contains("line 3", message, StringComparison.Ordinal);
        Assert.Contains("\"policies[0].incremetal\"", message, StringComparison.Ordinal);
        Assert.Contains("did you mean \"incremental\"?", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""  "shutdownTimeoutSecs": 3 }""", "did you mean \"shutdownTimeoutSeconds\"?")]
    [InlineData("""  "limits": { "maxConnection": 3 } }""", "did you mean \"maxConnections\"?")]
    [InlineData("""  "policies": [ { "name": "p", "instance": "store", "repository": { "location": "/r", "keyfile": "k" }, "full": "7d" } ] }""", "did you mean \"keyFile\"?")]
    [InlineData("""  "frobnicate": true }""", "unknown key \"frobnicate\"")]
    public void Unknown_keys_anywhere_are_refused(string rest, string expected)
    {
        var message = Load(Instances + "\n" + rest);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.Contains("line 3", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""  "limits": { "maxConnections": "many" } }""", "\"limits.maxConnections\" must be a whole number")]
    [InlineData("""  "allowFaultDrills": "yes" }""", "\"allowFaultDrills\" must be true or false")]
    [InlineData("""  "policies": [ { "name": "p", "instance": "store", "repository": { "location": "/r" }, "full": 7 } ] }""", "\"policies[0].full\" must be a string")]
    public void Values_of_the_wrong_type_are_refused_naming_the_key_and_line(string rest, string expected)
    {
        var message = Load(Instances + "\n" + rest);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.Contains("line 3", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"full\": \"5s\"", "\"full\" is '5s'")]
    [InlineData("\"full\": \"7d\", \"incremental\": \"30s\"", "\"incremental\" is '30s'")]
    public void Absurd_schedules_are_refused_unless_short_schedules_are_allowed(string schedule, string expected)
    {
        var policy = "  \"policies\": [ { \"name\": \"p\", \"instance\": \"store\", \"repository\": { \"location\": \"/r\" },\n    " + schedule + " } ] }";
        var message = Load(Instances + "\n" + policy);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.Contains("line 4", message, StringComparison.Ordinal);
        Assert.Contains("allowShortSchedules", message, StringComparison.Ordinal);
        var path = Path.Combine(Path.GetTempPath(), $"bb-config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, Instances + "\n \"allowShortSchedules\": true, " + policy);
        try
        {
            Assert.Single(ServerConfig.Load(path).Policies);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_schedule_shorter_than_the_last_backup_of_its_kind_took_is_refused()
    {
        var p = new PolicyDefinition { Name = "p", Instance = "store", Repository = new() { Location = "/r" }, Full = "1h" };
        var history = new[] { new PolicyJobInfo { Id = "j1", Policy = "p", Kind = PolicyJobKind.Full, State = PolicyJobState.Succeeded, Seconds = 5400 } };
        var ex = Assert.Throws<ServerConfigException>(() => PolicyRules.AgainstHistory(p, history, "test"));
        Assert.Contains("took 5400 s", ex.Message, StringComparison.Ordinal);
        p.Full = "2h";
        PolicyRules.AgainstHistory(p, history, "test");
    }

    [Fact]
    public void A_policy_read_for_policy_set_is_as_strict_as_the_config_file()
    {
        var ex = Assert.Throws<ServerConfigException>(() => ServerConfig.ParsePolicy("""{ "name": "p", "instance": "store", "repository": { "location": "/r" }, "full": "7d", "incremetal": "1h" }""", "Policy file 'p.json'"));
        Assert.Contains("Policy file 'p.json', line 1: unknown key \"incremetal\"; did you mean \"incremental\"?", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""  "repairFrom": "/backups/blueback", "repairTokenFile": "t" }""", "is a repository, which takes no token")]
    [InlineData("""  "repairFrom": "ftp://h/r" }""", "neither a standby's address (http://HOST:PORT) nor a repository")]
    [InlineData("""  "repairFrom": "http://10.0.0.2:7421", "repairTokenFile": "t", "repairRepository": { "keyFile": "k" } }""", "\"repairFrom\" names none")]
    [InlineData("""  "repairFrom": "s3://b/r", "repairRepository": { "s3Checksums": "sometimes" } }""", "'sometimes' is not a checksum mode")]
    [InlineData("""  "repairFrom": "s3://b/r", "repairRepository": { "keyFlie": "k" } }""", "did you mean \"keyFile\"?")]
    [InlineData("""  "repairFrom": "http://10.0.0.2:7421" }""", "needs a token of that standby")]
    [InlineData("""  "repairTokenFile": "t" }""", "without a repair source")]
    public void A_repair_source_that_is_not_a_standby_with_a_token_is_refused_naming_the_key(string rest, string expected)
    {
        var message = Load(Instances + "\n" + rest);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.Contains("line 3", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""  "notifications": { "webhook": { "ulr": "http://h/hook" } } }""", "unknown key \"notifications.webhook.ulr\"; did you mean \"url\"?")]
    [InlineData("""  "notifications": { "webhook": { "url": "hooks.example/alerts" } } }""", "line 3 (\"notifications.webhook.url\")")]
    [InlineData("""  "notifications": { "webhook": { "url": "http://h/hook", "retries": 99 } } }""", "\"notifications.webhook.retries\" is 99; give 0 to 20")]
    [InlineData("""  "notifications": { "webhook": { "url": "http://h/hook", "retries": "often" } } }""", "\"notifications.webhook.retries\" must be a whole number")]
    [InlineData("""  "notifications": { "mail": { "host": "relay", "from": "blueback@host", "to": [ "not an address" ] } } }""", "\"notifications.mail.to\" holds 'not an address'")]
    [InlineData("""  "notifications": { "mail": { "host": "relay", "from": "b@host", "to": [ "ops@example.org" ], "port": 0 } } }""", "\"notifications.mail.port\" is 0")]
    public void Notification_settings_are_checked_like_every_other_key(string rest, string expected)
    {
        var message = Load(Instances + "\n" + rest);
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.Contains("line 3", message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_standby_with_a_token_or_a_repository_is_a_repair_source()
    {
        Assert.Equal(new Uri("http://10.0.0.2:7421"), Server.Repair.RepairRepositoryConfig.Check("http://10.0.0.2:7421", "t", "test")!.Standby);
        Assert.Equal("s3://backups/blueback", Server.Repair.RepairRepositoryConfig.Check("s3://backups/blueback", null, "test")!.Repository);
        Assert.Equal("/backups/blueback", Server.Repair.RepairRepositoryConfig.Check("/backups/blueback", null, "test")!.Repository);
        Assert.Null(Server.Repair.RepairRepositoryConfig.Check(null, null, "test"));
    }

    [Theory]
    [InlineData("\"s3Checksums\": \"sometimes\"", "'sometimes' is not a checksum mode")]
    [InlineData("\"s3PartSize\": \"2M\"", "outside 5 MiB to 1 GiB")]
    [InlineData("\"s3PathStyle\": \"yes\"", "\"policies[0].repository.s3PathStyle\"")]
    public void A_policy_s_S3_settings_are_checked_when_the_config_is_read(string setting, string expected)
    {
        var message = Load(Instances + $$"""
          "policies": [ { "name": "p", "instance": "store", "repository": { "location": "s3://b/r", {{setting}} }, "full": "7d" } ] }
        """);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_policy_s_S3_settings_reach_its_commands()
    {
        var repository = new PolicyRepository { Location = "s3://b/r", S3Endpoint = "http://rgw:7480", S3PathStyle = false, S3Checksums = "when-required", S3PartSize = "64M" };
        Assert.Equal(["--repo", "s3://b/r", "--s3-endpoint", "http://rgw:7480", "--s3-path-style", "false", "--s3-checksums", "when-required", "--s3-part-size", "64M"],
            PolicyCommands.Repository(repository));
        Assert.Equal(new Blueback.Repository.Stores.S3Settings("http://rgw:7480", null, false, "when-required", "64M"), PolicyCommands.S3(repository));
    }
}
