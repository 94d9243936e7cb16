using System.Text;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Storage;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback backup --streams N</c>: each database image read as 32 MiB parts over several connections at
/// once, put back in order, as raw pages or as the server's chunk frames: the set verifies and restores every row.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class ParallelStreamsTests
{
    [Fact(Timeout = 300_000)]
    public async Task An_image_read_over_four_streams_verifies_and_restores_every_row()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var rng = new Random(5);
        var rows = new Dictionary<string, byte[]>();
        // About 90 MB of random values, in batches of 50: an image of several 32 MiB parts.
        for (int b = 0; b < 320; b++)
        {
            var batch = new BatchRequest { Ops = [] };
            for (int i = b * 50; i < (b + 1) * 50; i++)
            {
                var value = new byte[rng.Next(2000, 9000)];
                rng.NextBytes(value);
                rows[$"k{i:D5}"] = value;
                batch.Ops.Add(new BatchOp { Op = "put", Database = "mailbox", Table = "t", Key = $"k{i:D5}", ValueBase64 = Convert.ToBase64String(value) });
            }
            await c.BatchAsync("store", batch);
        }
        // Both ways of reading parts: raw pages the program cuts and compresses, and the server's chunk frames.
        foreach (var site in new[] { "client", "server" })
        {
            var (siteRepo, restored) = (dir[$"repo-{site}"], dir[$"restored-{site}"]);
            Assert.Equal(0, BackupProgramTests.Cli("repo", "init", siteRepo).Exit);
            var backup = BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", siteRepo, "--streams", "4", "--compress", site);
            Assert.True(backup.Exit == 0, backup.Err);
            var verify = BackupProgramTests.Cli("verify", "--repo", siteRepo);
            Assert.True(verify.Exit == 0, verify.Out + verify.Err);
            var restore = BackupProgramTests.Cli("restore", "--repo", siteRepo, "--to", restored);
            Assert.True(restore.Exit == 0, restore.Err);
            using var inst = StorageInstance.Open(Path.Combine(restored, "store"), new InstanceOptions());
            using var r = inst.BeginRead();
            var found = r.Scan(inst.GetDatabase("mailbox"), "t").ToDictionary(kv => Encoding.UTF8.GetString(kv.Key), kv => kv.Value);
            Assert.Equal(rows.Count, found.Count);
            Assert.All(rows, kv => Assert.Equal(kv.Value, found[kv.Key]));
            Assert.True(new FileInfo(Path.Combine(restored, "store", "mailbox.bdb")).Length > 2 * BackupRequestPartSize, "the image is too small to be read in several parts");
        }
    }

    private const long BackupRequestPartSize = Backup.BackupRequest.PartSize;
}
