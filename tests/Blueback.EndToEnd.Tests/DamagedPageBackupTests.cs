using System.Runtime.InteropServices;
using Blueback.Client;
using Blueback.IO;

namespace Blueback.EndToEnd.Tests;

/// <summary>A page damaged on the server's disk is named end to end, as a new user meets it: one byte of page 5 of
/// <c>mailbox</c> flipped on a stopped server, which is started again, then <c>blueback backup --type full</c>. The
/// program's message and the server's log both name the database, the page and what to do, whether the backup
/// reads the page through the page cache or around it (O_DIRECT), before the image's response has started (page 5)
/// or after megabytes of it were sent (page 250), and no set is left.</summary>
[Trait(Tier.Category, Tier.Slow)]
public partial class DamagedPageBackupTests
{
    private const int PageSize = 8192;

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(int fd, long offset, long length, int advice);

    [Theory(Timeout = 180_000)]
    [InlineData(true, 5u, "server")]
    [InlineData(false, 5u, "client")]
    [InlineData(true, 250u, "client")]
    [InlineData(false, 250u, "server")]
    public async Task The_program_and_the_server_log_name_the_database_the_page_and_the_remedy(bool cached, uint victim, string compress)
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        var data = dir["data"];
        using (var first = await ServerProcess.StartAsync(data))
        {
            using var c = new BluebackClient(first.Url);
            for (int i = 0; i < 700; i++)
            {
                await c.PutAsync("store", "mailbox", "t", System.Text.Encoding.UTF8.GetBytes($"k{i:D5}"), new byte[4000]);
            }
            await first.TerminateAsync(TimeSpan.FromSeconds(30));
        }
        var file = Path.Combine(data, "store", "mailbox.bdb");
        Assert.True(new FileInfo(file).Length > (victim + 1) * PageSize, "the database is too small for the test");
        using (var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = victim * PageSize + 4000;
            int b = fs.ReadByte();
            fs.Position = victim * PageSize + 4000;
            fs.WriteByte((byte)(b ^ 0xFF));
            fs.Flush(flushToDisk: true);
        }

        using var server = await ServerProcess.StartAsync(data);
        // The server picks the read path per range by what the page cache holds (cachestat): set it, and check it.
        using (var handle = File.OpenHandle(file))
        {
            if (cached)
            {
                using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                fs.CopyTo(Stream.Null);
            }
            else
            {
                Assert.Equal(0, Fadvise((int)handle.DangerousGetHandle(), 0, 0, 4 /* POSIX_FADV_DONTNEED */));
            }
            Assert.Equal(cached, FileSystem.MostlyCached(handle, victim / 64 * 64L * PageSize, 64L * PageSize));
        }

        // Each read path (cached, uncached) under each way of sending pages (raw, the server's chunk frames).
        var r = BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full", "--compress", compress);
        Assert.True(r.Exit == 2, $"exit {r.Exit}\n{r.Out}\n{r.Err}");
        foreach (var text in new[] { r.Err, server.Output })
        {
            Assert.Contains("mailbox", text, StringComparison.Ordinal);
            Assert.Contains($"page {victim}", text, StringComparison.Ordinal);
            Assert.Contains("blueback db checksum", text, StringComparison.Ordinal);
        }
        Assert.Contains("No set was written", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("Content-Length mismatch", server.Output, StringComparison.Ordinal);
        Assert.Contains("[]", BackupProgramTests.Cli("list", "--repo", repo, "--json").Out, StringComparison.Ordinal);
    }
}
