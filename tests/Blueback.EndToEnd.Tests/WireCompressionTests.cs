using System.Diagnostics;
using System.Text.Json;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Protocol.Programs;

namespace Blueback.EndToEnd.Tests;

/// <summary>Chunks cut, hashed and compressed on the server (chunk frames): from a backup program on another host,
/// over a link shaped as a real network is, a set stores the very chunks a local backup (compressed by the program, the
/// default for a server on this host) stores, a second full of an
/// unchanged instance moves almost nothing, and a server lost mid-chunk leaves no set.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class WireCompressionTests
{
    [Fact(Timeout = 300_000)]
    public async Task A_remote_backup_stores_the_chunks_a_local_one_does_and_a_second_full_sends_under_2_percent()
    {
        using var ns = NetworkNamespace.Create(linked: true);
        ns.Shape("1gbit");
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"], false, "--listen", $"http://{ns.HostV4}:0", "--insecure-listen");
        using (var c = new BluebackClient(server.Url))
        {
            await FillAsync(c, "r", _ => RandomValue()); // incompressible
            await FillAsync(c, "z", _ => CompressibleValue()); // about tenfold
        }
        var remoteUrl = server.Urls.Single(u => u.Contains(ns.HostV4, StringComparison.Ordinal));
        foreach (var r in new[] { "remote", "local" })
        {
            Assert.Equal(0, BackupProgramTests.Cli("repo", "init", dir[r]).Exit);
        }

        var first = Backup(ns, remoteUrl, dir["remote"]);
        Assert.Equal("server", first.CompressedOn);
        Assert.True(first.Wire < first.Bytes * 0.8, $"the first full sent {first.Wire} bytes over the network for {first.Bytes} of content, half of it compressible");
        // A server on this host: by default the program hashes and compresses, from raw pages.
        var local = Backup(null, server.Url, dir["local"]);
        Assert.Equal("client", local.CompressedOn);

        // The same pages make the same chunks, byte for byte, whichever side compressed them (the header and trailer
        // pages, cut apart, change at every backup).
        var remoteChunks = ImageChunks(dir["remote"], first.Set);
        var localChunks = ImageChunks(dir["local"], local.Set);
        Assert.True(remoteChunks.Count > 4, $"{remoteChunks.Count} chunks");
        Assert.Equal(localChunks[1..^1], remoteChunks[1..^1]);
        foreach (var key in remoteChunks[1..^1])
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(dir["local"], key)), await File.ReadAllBytesAsync(Path.Combine(dir["remote"], key)));
        }

        var second = Backup(ns, remoteUrl, dir["remote"]);
        Assert.True(second.Wire < second.Bytes * 0.02, $"the second full of an unchanged instance sent {second.Wire} bytes over the network for {second.Bytes} of content");
        var verify = BackupProgramTests.Cli("verify", "--repo", dir["remote"]);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_server_killed_mid_chunk_leaves_no_set_listed_and_the_program_fails()
    {
        using var ns = NetworkNamespace.Create(linked: true);
        ns.Shape("10mbit"); // 24 MB of incompressible pages: about twenty seconds on the wire
        using var dir = new TempDir();
        var server = await ServerProcess.StartAsync(dir["data"], false, "--listen", $"http://{ns.HostV4}:0", "--insecure-listen");
        try
        {
            using (var c = new BluebackClient(server.Url))
            {
                await FillAsync(c, "r", _ => RandomValue());
            }
            var remoteUrl = server.Urls.Single(u => u.Contains(ns.HostV4, StringComparison.Ordinal));
            Assert.Equal(0, BackupProgramTests.Cli("repo", "init", dir["repo"]).Exit);
            using var backup = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", ns.Name, "dotnet", ServerProcess.Cli, "backup", "--server", remoteUrl, "--repo", dir["repo"], "--json"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var err = backup.StandardError.ReadToEndAsync();
            var output = backup.StandardOutput.ReadToEndAsync();
            // Once the server has read its second chunk (of four), so that the first has gone into the response, it dies
            // mid-stream. (Not once chunks land in the repository: the program stores a 32 MiB part's chunks when the part
            // is whole, here at the very end.)
            var sw = Stopwatch.StartNew();
            using var http = TestToken.Http(server.Url);
            while (await BackupBytesReadAsync(http) < 2 * ChunkSize)
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "the backup never got going");
                if (backup.HasExited)
                {
                    Assert.Fail($"the backup ended before the server was killed: {await output} {await err}");
                }
                await Task.Delay(20);
            }
            server.Kill();
            Assert.True(backup.WaitForExit(60_000), "the backup program did not exit after its server died");
            var message = await err;
            Assert.True(backup.ExitCode == ExitCodes.Failed, $"exit {backup.ExitCode} (server killed after {sw.Elapsed.TotalSeconds:0.0} s): {message} {await output}");
            // The frame stream was cut after bytes had come: it says after how many.
            Assert.Matches("chunks .* ended after [1-9][0-9]* ", message);
            _ = await output;
            var list = BackupProgramTests.Cli("list", "--repo", dir["repo"], "--json");
            Assert.Equal(0, list.Exit);
            Assert.Empty(JsonSerializer.Deserialize<List<ListedSet>>(list.Out, ProtocolJson.Default.Options)!);
        }
        finally
        {
            server.Dispose();
        }
    }

    private const int ChunkSize = 8 << 20; // a new repository's

    /// <summary>The server's count of bytes streamed to backups (its /metrics): read from the disk, counted before the
    /// chunk they are in is sent.</summary>
    private static async Task<double> BackupBytesReadAsync(HttpClient http)
    {
        var line = (await http.GetStringAsync(Routes.Metrics)).Split('\n').FirstOrDefault(l => l.StartsWith("blueback_backup_bytes", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static BackupOutput Backup(NetworkNamespace? ns, string url, string repo, params string[] extra)
    {
        string[] args = ["backup", "--server", url, "--repo", repo, "--type", "full", "--json", .. extra];
        if (ns is null)
        {
            var r = BackupProgramTests.Cli(args);
            Assert.True(r.Exit == 0, r.Out + r.Err);
            return JsonSerializer.Deserialize(r.Out, ProtocolJson.Default.BackupOutput)!;
        }
        var output = NetworkNamespace.Run("ip", [.. ns.Exec[1..], "dotnet", ServerProcess.Cli, .. args]);
        return JsonSerializer.Deserialize(output, ProtocolJson.Default.BackupOutput)!;
    }

    /// <summary>The chunk keys of the first database image of a set, in order (from its manifest).</summary>
    private static List<string> ImageChunks(string repo, string set)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(repo, "sets", set, "manifest.json")));
        var file = doc.RootElement.GetProperty("manifest").GetProperty("files").EnumerateArray().First(f => f.GetProperty("path").GetString()!.EndsWith(".bdb", StringComparison.Ordinal));
        return file.GetProperty("chunks").EnumerateArray().Select(c => c.GetProperty("key").GetString()!).ToList();
    }

    /// <summary>24 MB: 240 values of 100 kB in table <paramref name="table"/>.</summary>
    private static async Task FillAsync(BluebackClient c, string table, Func<int, byte[]> value)
    {
        for (int i = 0; i < 240; i += 20)
        {
            await c.BatchAsync("store", new BatchRequest
            {
                Ops = Enumerable.Range(i, 20).Select(k => new BatchOp { Op = "put", Database = "mailbox", Table = table, Key = $"{table}{k:D4}", ValueBase64 = Convert.ToBase64String(value(k)) }).ToList(),
            });
        }
    }

    private static byte[] RandomValue()
    {
        var value = new byte[100_000];
        Random.Shared.NextBytes(value);
        return value;
    }

    private static byte[] CompressibleValue()
    {
        var value = new byte[100_000];
        for (int i = 0; i < value.Length; i++)
        {
            value[i] = (byte)('a' + (i / 37 % 7) + Random.Shared.Next(2));
        }
        return value;
    }
}
