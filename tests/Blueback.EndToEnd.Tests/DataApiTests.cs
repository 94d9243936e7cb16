using System.Net;
using System.Text;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.EndToEnd.Tests;

/// <summary>Every data route against a real server, over TCP and over a Unix socket (one code path).</summary>
public class DataApiTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact(Timeout = 180_000)]
    public async Task Every_route_works_over_tcp_and_over_a_unix_socket()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"], unixSocket: true);
        foreach (var address in new[] { server.Url, "unix:" + server.UnixSocket })
        {
            using var c = new BluebackClient(address);
            var table = "t" + (address.StartsWith("unix:", StringComparison.Ordinal) ? "unix" : "tcp");
            Assert.True(await c.IsHealthyAsync());
            // Keys are bytes: '/' and non-ASCII survive the URL.
            foreach (var k in new[] { "plain", "with/slash", "ключ", "sp ace", "pct%41" })
            {
                await c.PutAsync("store", "mailbox", table, B(k), B("value of " + k));
                Assert.Equal("value of " + k, Encoding.UTF8.GetString((await c.GetAsync("store", "mailbox", table, B(k)))!));
            }
            await c.PutAsync("store", "mailbox", table, [0xFF, 0x01, 0x7F], new byte[] { 1, 2, 3 });
            Assert.Equal(new byte[] { 1, 2, 3 }, await c.GetAsync("store", "mailbox", table, [0xFF, 0x01, 0x7F]));
            await c.DeleteAsync("store", "mailbox", table, B("plain"));
            await c.DeleteAsync("store", "mailbox", table, B("never-there"));
            Assert.Null(await c.GetAsync("store", "mailbox", table, B("plain")));

            // Range scans, paged, both directions.
            for (int i = 0; i < 25; i++)
            {
                await c.PutAsync("store", "public", table, B($"r{i:D2}"), B($"{i}"));
            }
            var keys = new List<string>();
            string? from = "r";
            while (true)
            {
                var page = await c.ScanAsync("store", "public", table, from, "s", limit: 10);
                keys.AddRange(page.Items.Select(i => i.Key));
                if (page.Next is null)
                {
                    break;
                }
                from = page.Next.From;
            }
            Assert.Equal(Enumerable.Range(0, 25).Select(i => $"r{i:D2}"), keys);
            var rev = await c.ScanAsync("store", "public", table, "r05", "r10", reverse: true);
            Assert.Equal(["r09", "r08", "r07", "r06", "r05"], rev.Items.Select(i => i.Key));
            Assert.Equal("9", Encoding.UTF8.GetString(Convert.FromBase64String(rev.Items[0].Value)));

            // An atomic batch across databases.
            await c.BatchAsync("store", new BatchRequest
            {
                Ops =
                [
                    new BatchOp { Op = "put", Database = "mailbox", Table = table, Key = "b1", Value = "text" },
                    new BatchOp { Op = "put", Database = "public", Table = table, Key = "b2", ValueBase64 = Convert.ToBase64String([9, 9]) },
                    new BatchOp { Op = "delete", Database = "public", Table = table, Key = "r00" },
                ],
            });
            Assert.Equal("text", Encoding.UTF8.GetString((await c.GetAsync("store", "mailbox", table, B("b1")))!));
            Assert.Equal(new byte[] { 9, 9 }, await c.GetAsync("store", "public", table, B("b2")));
            Assert.Null(await c.GetAsync("store", "public", table, B("r00")));
        }

        using var client = new BluebackClient(server.Url);
        var status = await client.StatusAsync();
        Assert.Equal(["store", "directory"], status.Instances.Select(i => i.Name));
        Assert.Equal(["mailbox", "public"], status.Instances[0].Databases.Select(d => d.Name));
        Assert.All(status.Instances[0].Databases, d => Assert.Equal(8192, d.PageSize));
        Assert.True(status.Instances[0].CurrentGeneration >= 1);
        using var http = TestToken.Http(server.Url);
        var metrics = await http.GetStringAsync(Routes.Metrics);
        Assert.Contains("blueback_commits_total{instance=\"store\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("blueback_requests_total{method=\"PUT\",route=\"put\",status=\"204\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("blueback_log_flushes_total", metrics, StringComparison.Ordinal);
    }

    [Fact(Timeout = 180_000)]
    public async Task Bad_requests_get_a_clear_4xx_and_disturb_no_one()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        using var http = TestToken.Http(server.Url);

        // A well-behaved writer runs throughout.
        using var stop = new CancellationTokenSource();
        int good = 0;
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await c.PutAsync("store", "mailbox", "good", B($"k{good:D6}"), B("v"));
                good++;
            }
        });

        async Task Expect(HttpStatusCode status, HttpRequestMessage req, string mention)
        {
            using var resp = await http.SendAsync(req);
            Assert.Equal(status, resp.StatusCode);
            Assert.Equal("application/problem+json", resp.Content.Headers.ContentType?.MediaType);
            var body = await resp.Content.ReadAsStringAsync();
            Assert.Contains(mention, body, StringComparison.Ordinal);
        }

        const string T = "/v1/instances/store/databases/mailbox/tables/bad/keys";
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Put, T + "/") { Content = new ByteArrayContent([1]) }, "empty");
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Put, T + "/" + new string('k', 2048)) { Content = new ByteArrayContent([1]) }, "1024");
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Put, T + "/big") { Content = new ByteArrayContent(new byte[(17 << 20)]) }, "16 MiB");
        await Expect(HttpStatusCode.NotFound, new HttpRequestMessage(HttpMethod.Get, "/v1/instances/nosuch/databases/mailbox/tables/t/keys/k"), "nosuch");
        await Expect(HttpStatusCode.NotFound, new HttpRequestMessage(HttpMethod.Get, "/v1/instances/store/databases/nosuch/tables/t/keys/k"), "nosuch");
        await Expect(HttpStatusCode.NotFound, new HttpRequestMessage(HttpMethod.Get, T + "/absent"), "absent");
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Get, T + "?limit=0"), "limit");
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Get, T + "?reverse=maybe"), "reverse");
        var batch = "/v1/instances/store/batch";
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Post, batch) { Content = new StringContent("{not json") }, "not valid JSON");
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Post, batch) { Content = new StringContent("{\"ops\":[]}") }, "no operations");
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Post, batch) { Content = new StringContent("{\"ops\":[{\"op\":\"put\",\"database\":\"mailbox\",\"table\":\"x\",\"key\":\"k\",\"valueBase64\":\"@@@\"}]}") }, "ops[0]: valueBase64");
        await Expect(HttpStatusCode.BadRequest, new HttpRequestMessage(HttpMethod.Post, batch) { Content = new StringContent("{\"ops\":[{\"op\":\"put\",\"database\":\"mailbox\",\"table\":\"x\",\"key\":\"ok\",\"value\":\"1\"},{\"op\":\"frob\",\"database\":\"mailbox\",\"table\":\"x\",\"key\":\"k\"}]}") }, "ops[1]");
        await Expect(HttpStatusCode.NotFound, new HttpRequestMessage(HttpMethod.Post, batch) { Content = new StringContent("{\"ops\":[{\"op\":\"delete\",\"database\":\"nosuch\",\"table\":\"x\",\"key\":\"k\"}]}") }, "nosuch");
        await Expect(HttpStatusCode.NotFound, new HttpRequestMessage(HttpMethod.Post, "/v1/instances/nosuch/batch") { Content = new StringContent("{}") }, "nosuch");

        // A batch with a bad op changed nothing, not even its good first op.
        Assert.Null(await c.GetAsync("store", "mailbox", "x", B("ok")));
        stop.Cancel();
        await writer;
        Assert.True(good > 0);
        var all = await c.ScanAsync("store", "mailbox", "good", limit: 1000);
        Assert.Equal(Math.Min(good, 1000), all.Items.Count);
        Assert.True(await c.IsHealthyAsync());
    }
}
