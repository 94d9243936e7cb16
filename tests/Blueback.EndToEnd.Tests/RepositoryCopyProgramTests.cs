using System.Diagnostics;
using System.Text.Json;
using Blueback.Backup;
using Blueback.Client;

namespace Blueback.EndToEnd.Tests;

/// <summary><c>blueback repo copy</c> as an operator runs it, against a real server's backups: a local repository
/// copied into an encrypted one on S3 (moto) restores to the same instance; a copy killed (SIGKILL) at random moments
/// never leaves a set listed in the destination that is not whole, and a rerun finishes it.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class RepositoryCopyProgramTests
{
    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static JsonElement Json(params string[] args)
    {
        var r = Cli(args);
        Assert.True(r.Exit == 0, $"blueback {string.Join(' ', args)}: exit {r.Exit}\n{r.Err}");
        return JsonDocument.Parse(r.Out).RootElement.Clone();
    }

    private static List<string> Listed(string repo, params string[] more) =>
        Json(["list", "--repo", repo, "--json", .. more]).EnumerateArray().Where(e => e.TryGetProperty("id", out _)).Select(e => e.GetProperty("id").GetString()!).ToList();

    [Fact(Timeout = 600_000)]
    public async Task A_local_repository_copied_to_an_encrypted_one_on_S3_and_back_to_a_plain_directory_restores_the_same_instance_and_a_second_copy_copies_nothing()
    {
        using var dir = new TempDir();
        using var moto = await MotoServer.StartAsync();
        string[] s3 = ["--s3-endpoint", moto.Endpoint];
        var a = dir["a"];
        var b = $"s3://{MotoServer.Bucket}/site-b";
        var key = Path.Combine(dir.Path, "b.key");
        Assert.Equal(0, Cli("repo", "init", a).Exit);
        Assert.Equal(0, Cli(["repo", "init", b, "--encrypt", "--key-file", key, .. s3]).Exit);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        {
            using var c = new BluebackClient(server.Url);
            await BackupApiTests.FillAsync(c);
            Json("backup", "--server", server.Url, "--repo", a, "--json");
            await c.PutAsync("store", "mailbox", "t", "after-full"u8.ToArray(), "an incremental's row"u8.ToArray());
            Json("backup", "--server", server.Url, "--repo", a, "--type", "incremental", "--changed-pages", "--json");
        }

        var copy = Json(["repo", "copy", "--from", a, "--to", b, "--all", "--to-key-file", key, "--json", .. s3]);
        Assert.Equal(2, copy.GetProperty("copied").GetArrayLength());
        Assert.True(copy.GetProperty("stored").GetInt64() > 0);
        Assert.Equal(Listed(a), Listed(b, ["--key-file", key, .. s3]));
        var verify = Cli(["verify", "--repo", b, "--key-file", key, .. s3]);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);

        var fromA = Cli("restore", "--repo", a, "--to", dir["restored-a"]);
        Assert.True(fromA.Exit == 0, fromA.Err);
        var fromB = Cli(["restore", "--repo", b, "--key-file", key, "--to", dir["restored-b"], .. s3]);
        Assert.True(fromB.Exit == 0, fromB.Err);
        var digestA = InstanceDigest.Of(Path.Combine(dir["restored-a"], "store"));
        var digestB = InstanceDigest.Of(Path.Combine(dir["restored-b"], "store"));
        Assert.True(digestA.Rows > 240, $"{digestA.Rows} rows restored");
        Assert.Equal(0, digestB.BadPages);
        Assert.Equal(digestA, digestB);

        // And back from S3 into a plain directory: S3 to local, encrypted to plain.
        var plain = dir["c"];
        Assert.Equal(0, Cli("repo", "init", plain).Exit);
        var back = Json(["repo", "copy", "--from", b, "--to", plain, "--all", "--from-key-file", key, "--json", .. s3]);
        Assert.Equal(2, back.GetProperty("copied").GetArrayLength());
        var fromC = Cli("restore", "--repo", plain, "--to", dir["restored-c"]);
        Assert.True(fromC.Exit == 0, fromC.Err);
        Assert.Equal(digestA, InstanceDigest.Of(Path.Combine(dir["restored-c"], "store")));

        var again = Json(["repo", "copy", "--from", a, "--to", b, "--all", "--to-key-file", key, "--json", .. s3]);
        Assert.Equal(0, again.GetProperty("copied").GetArrayLength());
        Assert.Equal(2, again.GetProperty("alreadyThere").GetArrayLength());
        Assert.Equal(0, again.GetProperty("read").GetInt64());
        Assert.Equal(0, again.GetProperty("stored").GetInt64());
    }

    [Fact(Timeout = 900_000)]
    public async Task A_copy_killed_at_random_moments_never_lists_a_partial_set_and_resumes()
    {
        using var dir = new TempDir();
        var a = dir["a"];
        Assert.Equal(0, Cli("repo", "init", a).Exit);
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        {
            using var c = new BluebackClient(server.Url);
            await BackupApiTests.FillAsync(c);
            Json("backup", "--server", server.Url, "--repo", a, "--no-compress", "--json");
            await c.PutAsync("store", "mailbox", "t", "after-full"u8.ToArray(), "an incremental's row"u8.ToArray());
            Json("backup", "--server", server.Url, "--repo", a, "--type", "incremental", "--no-compress", "--json");
        }
        var sets = Listed(a);
        int interrupted = 0;
        foreach (var seed in new[] { 1, 2, 3 })
        {
            var b = dir[$"b{seed}"];
            Assert.Equal(0, Cli("repo", "init", b, "--encrypt", "--key-file", Path.Combine(dir.Path, $"b{seed}.key")).Exit);
            var random = new Random(seed);
            for (int kill = 0; kill < 3; kill++)
            {
                // About 3 MB/s: the copy of ~25 MB takes several seconds, and the kill lands anywhere in it.
                var psi = new ProcessStartInfo("dotnet", [ServerProcess.Cli, "repo", "copy", "--from", a, "--to", b, "--all", "--to-key-file", Path.Combine(dir.Path, $"b{seed}.key"), "--max-rate", "3M", "--parallel", "2"])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                };
                using var p = Process.Start(psi)!;
                _ = p.StandardOutput.ReadToEndAsync();
                _ = p.StandardError.ReadToEndAsync();
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(300, 6000)));
                if (!p.HasExited)
                {
                    p.Kill(); // SIGKILL: no cleanup of any kind
                    interrupted++;
                }
                Assert.True(p.WaitForExit(30_000), "the killed copy did not go away");
                var listed = Listed(b, "--key-file", Path.Combine(dir.Path, $"b{seed}.key"));
                Assert.True(listed.All(sets.Contains), $"seed {seed}: the destination lists {string.Join(", ", listed)}, not sets of the source");
                var verify = Cli("verify", "--repo", b, "--key-file", Path.Combine(dir.Path, $"b{seed}.key"));
                Assert.True(verify.Exit == 0, $"seed {seed}, kill {kill}: a set listed in the destination is not whole:\n{verify.Out}{verify.Err}");
            }
            var finish = Json("repo", "copy", "--from", a, "--to", b, "--all", "--to-key-file", Path.Combine(dir.Path, $"b{seed}.key"), "--json");
            Assert.Equal(sets, Listed(b, "--key-file", Path.Combine(dir.Path, $"b{seed}.key")));
            var all = finish.GetProperty("copied").GetArrayLength() + finish.GetProperty("alreadyThere").GetArrayLength();
            Assert.Equal(sets.Count, all);
            var verified = Cli("verify", "--repo", b, "--key-file", Path.Combine(dir.Path, $"b{seed}.key"));
            Assert.True(verified.Exit == 0, verified.Out + verified.Err);
        }
        Assert.True(interrupted >= 3, $"only {interrupted} of 9 kills found the copy still running");
    }
}
