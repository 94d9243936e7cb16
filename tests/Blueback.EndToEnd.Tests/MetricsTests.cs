using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>/metrics keeps every family's name, type and label names (dashboards and alerts use them), whatever
/// writes the exposition: a real server with a policy, a shipped instance and a backup, scraped as Prometheus does.</summary>
public partial class MetricsTests
{
    /// <summary>Every family the server exposes: name, Prometheus type, label names. The standby's families appear only on a
    /// standby (StandbyTests checks them with <see cref="AssertExposed"/>); the others, in the test below.</summary>
    internal static readonly Dictionary<string, (string Type, string[] Labels)> Families = new(StringComparer.Ordinal)
    {
        ["blueback_requests_total"] = ("counter", ["method", "route", "status"]),
        ["blueback_auth_failures_total"] = ("counter", ["reason"]),
        ["blueback_commits_total"] = ("counter", ["instance"]),
        ["blueback_log_flushes_total"] = ("counter", ["instance"]),
        ["blueback_log_bytes_written_total"] = ("counter", ["instance"]),
        ["blueback_cache_hits_total"] = ("counter", ["instance"]),
        ["blueback_cache_misses_total"] = ("counter", ["instance"]),
        ["blueback_cache_size"] = ("gauge", ["instance"]),
        ["blueback_backup_bytes_total"] = ("counter", []),
        ["blueback_shipping_lag_milliseconds"] = ("gauge", ["instance"]),
        ["blueback_shipping_unshipped_generations"] = ("gauge", ["instance"]),
        ["blueback_shipping_unshipped_bytes"] = ("gauge", ["instance"]),
        ["blueback_shipping_shipped_through"] = ("gauge", ["instance"]),
        ["blueback_log_volume_free_bytes"] = ("gauge", ["instance"]),
        ["blueback_policy_jobs_total"] = ("counter", ["policy", "kind", "state"]),
        ["blueback_policy_consecutive_failures"] = ("gauge", ["policy"]),
        ["blueback_policy_failed_proofs"] = ("gauge", ["policy"]),
        ["blueback_standby_lag_milliseconds"] = ("gauge", ["instance"]),
        ["blueback_standby_lag_generations"] = ("gauge", ["instance"]),
        ["blueback_standby_applied_through"] = ("gauge", ["instance"]),
        ["blueback_standby_waiting_bytes"] = ("gauge", ["instance"]),
        ["blueback_standby_play_downs_total"] = ("counter", ["instance"]),
        ["blueback_page_repairs_total"] = ("counter", ["instance", "result"]),
        ["blueback_browse_sets_open"] = ("gauge", []),
        ["blueback_browse_mounts_total"] = ("counter", []),
    };

    /// <summary>Families that appear only once a page was sent for repair (PageRepairTests checks them).</summary>
    internal static readonly string[] RepairFamilies = ["blueback_page_repairs_total"];

    internal static readonly string[] StandbyFamilies = ["blueback_standby_lag_milliseconds", "blueback_standby_lag_generations", "blueback_standby_applied_through", "blueback_standby_waiting_bytes", "blueback_standby_play_downs_total"];

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>[-+0-9.eEInfa]+)$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<label>[a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*",?""")]
    private static partial Regex LabelPair();

    /// <summary>Asserts that each named family is in the Prometheus text exposition with its TYPE and at least one sample
    /// carrying exactly its label names; every sample line of the exposition must parse.</summary>
    internal static void AssertExposed(string exposition, IEnumerable<string> names)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var labels = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var line in exposition.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                types[parts[2]] = parts[3];
                continue;
            }
            if (line.StartsWith('#'))
            {
                continue;
            }
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"a sample line that does not parse: '{line}'");
            var set = string.Join(",", LabelPair().Matches(m.Groups["labels"].Value).Select(l => l.Groups["label"].Value).Order(StringComparer.Ordinal));
            if (!labels.TryGetValue(m.Groups["name"].Value, out var sets))
            {
                labels[m.Groups["name"].Value] = sets = new HashSet<string>(StringComparer.Ordinal);
            }
            sets.Add(set);
        }
        foreach (var name in names)
        {
            var (type, want) = Families[name];
            Assert.True(types.TryGetValue(name, out var got), $"{name}: no '# TYPE {name}' line in /metrics:\n{exposition}");
            Assert.True(got == type, $"{name}: type {got}, was {type}");
            Assert.True(labels.TryGetValue(name, out var sets), $"{name}: no sample in /metrics:\n{exposition}");
            var wanted = string.Join(",", want.Order(StringComparer.Ordinal));
            Assert.True(sets.Contains(wanted), $"{name}: label names {string.Join(" | ", sets)}, were {wanted}");
        }
    }

    [Fact(Timeout = 240_000)]
    public async Task Every_metric_keeps_its_name_type_and_labels()
    {
        using var dir = new TempDir();
        var config = dir["server.json"];
        await File.WriteAllTextAsync(config, $$"""
            { "instances": [ { "name": "store", "databases": [ { "name": "mailbox" } ] },
                             { "name": "directory", "databases": [ { "name": "directory" } ] } ],
              "policies": [ { "name": "nightly", "instance": "store", "repository": { "location": "{{dir["repo"]}}" }, "full": "1h" } ] }
            """);
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        using var http = TestToken.Http(server.Url);
        await c.PutAsync("store", "mailbox", "t", "k"u8.ToArray(), "v"u8.ToArray());
        using (var anonymous = new HttpClient { BaseAddress = new Uri(server.Url) })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(new Uri(Routes.Metrics, UriKind.Relative))).StatusCode); // counted in auth_failures
        }
        // An instance being shipped (its shipping gauges appear once a shipper claimed it).
        var claim = await http.PostAsJsonAsync(new Uri(Routes.Shipping("directory"), UriKind.Relative), new ShippingClaimRequest { ShipperId = Guid.NewGuid().ToString("N"), RepositoryId = "metricstest", Repository = "nowhere" }, ProtocolJson.Default.ShippingClaimRequest);
        Assert.True(claim.IsSuccessStatusCode, await claim.Content.ReadAsStringAsync());
        // The policy's first full runs at once; its end counts in blueback_policy_jobs.
        var calls = new PolicyCalls(c);
        var sw = Stopwatch.StartNew();
        while (!(await calls.HistoryAsync("nightly", 10, CancellationToken.None)).Any(j => j.State is PolicyJobState.Succeeded or PolicyJobState.Failed))
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(120), "the policy's first backup did not end within 2 minutes");
            await Task.Delay(250);
        }

        using var response = await http.GetAsync(new Uri(Routes.Metrics, UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        AssertExposed(text, Families.Keys.Except(StandbyFamilies).Except(RepairFamilies));
        Assert.Contains("blueback_requests_total{method=\"PUT\",route=\"put\",status=\"204\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("blueback_auth_failures_total{reason=\"missing\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("blueback_commits_total{instance=\"store\"}", text, StringComparison.Ordinal);
        Assert.DoesNotContain("otel_scope", text, StringComparison.Ordinal);
    }
}
