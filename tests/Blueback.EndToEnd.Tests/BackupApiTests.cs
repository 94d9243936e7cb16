using System.Diagnostics;
using System.Net;
using System.Text;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Storage;
using Blueback.Storage.Tests;

namespace Blueback.EndToEnd.Tests;

/// <summary>Online backup through the real server: consistency under load over TCP and the Unix socket (one code
/// path), the state machine's refusals, and every way a client can go away.</summary>
public class BackupApiTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>Writers through the data API. Writer w's batch n writes n into "w{w}" in both databases and a
    /// marker "m{w}-{n}": a restored state must hold, per writer, markers 1..N and N in both counters.</summary>
    private sealed class HttpWriters : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _tasks;
        private readonly long[] _acked;

        public HttpWriters(string server, int count, string prefix)
        {
            _acked = new long[count];
            _tasks = Enumerable.Range(0, count).Select(w => Task.Run(async () =>
            {
                using var c = new BluebackClient(server);
                for (long n = 1; !_stop.IsCancellationRequested; n++)
                {
                    await c.BatchAsync("store", new BatchRequest
                    {
                        Ops =
                        [
                            new BatchOp { Op = "put", Database = "mailbox", Table = "counters", Key = $"{prefix}w{w}", Value = n.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                            new BatchOp { Op = "put", Database = "public", Table = "counters", Key = $"{prefix}w{w}", Value = n.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                            new BatchOp { Op = "put", Database = "mailbox", Table = "markers", Key = $"{prefix}m{w}-{n:D8}", ValueBase64 = Convert.ToBase64String(new byte[300]) },
                        ],
                    });
                    Volatile.Write(ref _acked[w], n);
                }
            })).ToList();
        }

        public long[] Acked => _acked.Select(a => Volatile.Read(ref a)).ToArray();

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await Task.WhenAll(_tasks);
            _stop.Dispose();
        }
    }

    private static async Task<BackupMedia> TakeAsync(BluebackClient c, string type, CancellationToken ct = default)
    {
        var media = new BackupMedia();
        await using var s = await c.BeginBackupAsync("store", type, ct);
        media.GenLow = s.Info.GenLow;
        foreach (var db in s.Databases)
        {
            await using var image = await s.OpenDatabaseImageAsync(db.Name, ct);
            using var ms = new MemoryStream();
            await image.CopyToAsync(ms, ct);
            Assert.Equal(db.ImageSize, ms.Length);
            media.Images[db.Name] = (ms.ToArray(), null);
        }
        var logs = await s.ListLogsAsync(ct);
        foreach (var g in logs.Generations)
        {
            await using var log = await s.OpenLogAsync(g.Generation, ct);
            using var ms = new MemoryStream();
            await log.CopyToAsync(ms, ct);
            media.Logs[g.Generation] = ms.ToArray();
        }
        media.GenHigh = logs.GenHigh;
        await s.TruncateAsync(ct);
        await s.EndAsync(ct);
        return media;
    }

    private static void AssertConsistent(StorageInstance restored, long[] atLeast, string prefix)
    {
        var mailbox = restored.GetDatabase("mailbox");
        var pub = restored.GetDatabase("public");
        using var r = restored.BeginRead();
        for (int w = 0; w < atLeast.Length; w++)
        {
            long n = long.Parse(Encoding.UTF8.GetString(r.Get(mailbox, "counters", B($"{prefix}w{w}")) ?? B("0")), System.Globalization.CultureInfo.InvariantCulture);
            long m = long.Parse(Encoding.UTF8.GetString(r.Get(pub, "counters", B($"{prefix}w{w}")) ?? B("0")), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(n == m, $"writer {w}: counter {n} in mailbox, {m} in public: a batch was half restored");
            Assert.True(n >= atLeast[w], $"writer {w}: restored {n}, but {atLeast[w]} was acknowledged before the backup began");
            var markers = r.Scan(mailbox, "markers", B($"{prefix}m{w}-"), B($"{prefix}m{w}."), false).Count();
            Assert.Equal(n, markers);
        }
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_full_backup_under_load_over_tcp_and_over_the_unix_socket_restores_consistently()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"], unixSocket: true);
        var options = new InstanceOptions { CacheSize = 32L << 20 };
        int round = 0;
        foreach (var address in new[] { server.Url, "unix:" + server.UnixSocket })
        {
            BackupMedia media;
            long[] before;
            var prefix = $"r{round}";
            await using (var writers = new HttpWriters(server.Url, 4, prefix))
            {
                await Task.Delay(500);
                before = writers.Acked;
                using var c = new BluebackClient(address);
                media = await TakeAsync(c, "full");
                await Task.Delay(200);
            }
            media.LogSignature = ReadLogSignature(media);
            using var restored = media.Restore(dir[$"restored{round++}"], options);
            AssertConsistent(restored, before, prefix);
        }
        using var status = new BluebackClient(server.Url);
        var st = await status.StatusAsync();
        Assert.False(st.Instances[0].BackupInProgress);
        Assert.True(st.Instances[0].Databases[0].LastBackups.ContainsKey("full"));
    }

    private static Storage.Format.Signature ReadLogSignature(BackupMedia media)
    {
        var image = media.Images.Values.First().Image;
        return System.Runtime.InteropServices.MemoryMarshal.Read<Storage.Format.DatabaseHeader>(image).LogSignature;
    }

    [Fact(Timeout = 120_000)]
    public async Task The_server_enforces_the_state_machine_with_409s_that_say_what_comes_first()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var ex = await Assert.ThrowsAsync<BluebackApiException>(() => c.BeginBackupAsync("store", "incremental"));
        Assert.Equal(HttpStatusCode.Conflict, ex.Status);
        Assert.Contains("no full backup", ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<BluebackApiException>(() => c.BeginBackupAsync("store", "weekly"));
        Assert.Equal(HttpStatusCode.BadRequest, ex.Status);
        ex = await Assert.ThrowsAsync<BluebackApiException>(() => c.BeginBackupAsync("nosuch", "full"));
        Assert.Equal(HttpStatusCode.NotFound, ex.Status);

        await using var s = await c.BeginBackupAsync("store", "full");
        ex = await Assert.ThrowsAsync<BluebackApiException>(() => c.BeginBackupAsync("store", "copy"));
        Assert.Equal(HttpStatusCode.Conflict, ex.Status);
        Assert.Contains("already running", ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<BluebackApiException>(() => s.ListLogsAsync());
        Assert.Equal(HttpStatusCode.Conflict, ex.Status);
        Assert.Contains("not read in full", ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<BluebackApiException>(() => s.EndAsync());
        Assert.Equal(HttpStatusCode.Conflict, ex.Status);
        ex = await Assert.ThrowsAsync<BluebackApiException>(() => s.OpenLogAsync(1));
        Assert.Equal(HttpStatusCode.Conflict, ex.Status);
        // The other instance backs up meanwhile: one backup per instance, not per server.
        await using (var other = await c.BeginBackupAsync("directory", "copy"))
        {
            await other.AbortAsync();
        }
        await s.AbortAsync();
        await s.AbortAsync(); // idempotent
        ex = await Assert.ThrowsAsync<BluebackApiException>(() => s.ListLogsAsync());
        Assert.Equal(HttpStatusCode.Conflict, ex.Status);
        Assert.Contains("aborted", ex.Message, StringComparison.Ordinal);
        var full = await TakeAsync(c, "full");
        Assert.Equal(2, full.Images.Count);
    }

    [Fact(Timeout = 120_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_client_that_goes_away_mid_stream_or_falls_silent_loses_its_session_at_once_or_at_its_lease()
    {
        using var dir = new TempDir();
        var config = dir["c.json"];
        await File.WriteAllTextAsync(config, """{ "instances": [ { "name": "store", "databases": [ { "name": "mailbox" } ] } ], "backupLeaseSeconds": 1.5 }""");
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--config", config);
        using var c = new BluebackClient(server.Url);
        await FillAsync(c);

        // Mid-stream: the client cancels its read and drops the connection.
        var s = await c.BeginBackupAsync("store", "full");
        using (var cts = new CancellationTokenSource())
        {
            var image = await s.OpenDatabaseImageAsync("mailbox", cts.Token);
            var buf = new byte[8192];
            await image.ReadExactlyAsync(buf, cts.Token);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await image.ReadExactlyAsync(buf, cts.Token));
            await image.DisposeAsync();
        }
        await WaitForNoBackupAsync(c, TimeSpan.FromSeconds(5)); // the server notices at its next write to the socket

        // Silent: no call for longer than the lease (a client that does not renew it in the background).
        using var quiet = new BluebackClient(server.Url) { RenewsLeases = false };
        var silent = await quiet.BeginBackupAsync("store", "full");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await WaitForNoBackupAsync(c, TimeSpan.FromSeconds(1.5));
        var ex = await Assert.ThrowsAsync<BluebackApiException>(() => silent.ListLogsAsync());
        Assert.Contains("lease expired", ex.Message, StringComparison.Ordinal);

        // Busy on its own side for twice the lease (a slow repository, a starved program): the client library renews
        // the lease in the background while the session is open, so the session is still there.
        await using var busy = await c.BeginBackupAsync("store", "full");
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.True((await c.StatusAsync()).Instances.Single().BackupInProgress, "the session was lost while its client renewed it");
        await using (var image = await busy.OpenDatabaseImageAsync("mailbox"))
        {
            await image.CopyToAsync(Stream.Null);
        }
        await busy.AbortAsync();
        await WaitForNoBackupAsync(c, TimeSpan.FromSeconds(5));
    }

    [Fact(Timeout = 120_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task A_backup_program_killed_mid_stream_frees_the_instance_for_the_next_backup()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await FillAsync(c);
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Blueback.CrashWorker.dll"), "backup-reader", server.Url])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var reader = Process.Start(psi)!;
        var line = await reader.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.StartsWith("READING", line, StringComparison.Ordinal);
        Assert.True((await c.StatusAsync()).Instances[0].BackupInProgress);
        reader.Kill(entireProcessTree: true);
        await reader.WaitForExitAsync();
        await WaitForNoBackupAsync(c, TimeSpan.FromSeconds(5)); // the dropped stream aborts it at once; the lease (60 s) is the backstop
        var media = await TakeAsync(c, "full");
        Assert.Equal(2, media.Images.Count);
    }

    [Fact(Timeout = 60_000)]
    public async Task Disposing_an_unfinished_session_never_hangs_even_when_the_server_is_gone()
    {
        using var dir = new TempDir();
        var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var s = await c.BeginBackupAsync("store", "full");
        await s.DisposeAsync();
        await WaitForNoBackupAsync(c, TimeSpan.FromSeconds(1));
        var s2 = await c.BeginBackupAsync("store", "full");
        server.Kill();
        server.Dispose();
        var sw = Stopwatch.StartNew();
        await s2.DisposeAsync(); // no exception
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"dispose took {sw.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>24 MB in the first database: more than loopback socket buffers hold, so that a client that stops
    /// reading leaves the server mid-stream.</summary>
    /// <summary>240 values of 100 kB: one random value repeated (which zstd compresses many times over), or with
    /// <paramref name="distinct"/> a random value each (which it cannot).</summary>
    internal static async Task FillAsync(BluebackClient c, bool distinct = false)
    {
        var value = new byte[100_000];
        Random.Shared.NextBytes(value);
        string Value()
        {
            if (distinct)
            {
                Random.Shared.NextBytes(value);
            }
            return Convert.ToBase64String(value);
        }
        for (int i = 0; i < 240; i += 20)
        {
            await c.BatchAsync("store", new BatchRequest
            {
                Ops = Enumerable.Range(i, 20).Select(k => new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"k{k:D4}", ValueBase64 = Value() }).ToList(),
            });
        }
    }

    internal static async Task WaitForNoBackupAsync(BluebackClient c, TimeSpan bound, string? context = null, ServerProcess? server = null)
    {
        // On failure, what the server said about its backups: which session was left, how it began, what aborted what.
        string Log() => server is null ? "" : "\nThe server's backup log:\n" + string.Join('\n', server.Output.Split('\n').Where(l => l.Contains("Backup", StringComparison.Ordinal) || l.Contains("backup", StringComparison.Ordinal)).TakeLast(30));
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var st = await c.StatusAsync();
            if (st.Instances.All(i => !i.BackupInProgress))
            {
                if (sw.Elapsed > bound)
                {
                    Assert.Fail($"{context}{(context is null ? "" : ": ")}the server still reported a backup in progress {bound.TotalSeconds} s later; it ended {sw.Elapsed.TotalSeconds:0.0} s later (slow, not leaked){Log()}");
                }
                return;
            }
            if (sw.Elapsed > bound + TimeSpan.FromSeconds(70))
            {
                // Past any lease the tests give: the session was left to no one.
                Assert.Fail($"{context}{(context is null ? "" : ": ")}the server still reports a backup in progress {sw.Elapsed.TotalSeconds:0} s later (leaked: its lease did not end it){Log()}");
            }
            await Task.Delay(sw.Elapsed > bound ? 250 : 20);
        }
    }
}
