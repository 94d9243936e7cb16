using System.Text;
using System.Text.Json;
using Blueback.Client;
using Blueback.Repository.Crypto;

namespace Blueback.EndToEnd.Tests;

/// <summary>Repository format 2 as an operator meets it: backups of a real server deduplicated across sets, and an
/// encrypted repository that holds nothing readable, opens only with its passphrase, and has it changed.</summary>
[Trait(Tier.Category, Tier.Slow)]
public class RepositoryFormatTests
{
    private static (int Exit, string Out, string Err) CliWith(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        var (exit, output, error, _) = BackupProgramTests.CliWith(env, args);
        return (exit, output, error);
    }

    private static Dictionary<string, string?> Password(string? p) => new() { [RepositorySecret.PasswordVariable] = p };

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    [Fact(Timeout = 300_000)]
    public async Task An_encrypted_repository_holds_no_key_or_value_in_the_clear_opens_only_with_its_passphrase_and_restores()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var keys = Enumerable.Range(0, 300).Select(i => $"secret-key-{i:D4}-c0ffee").ToList();
        string Value(int i) => $"secret-value-{i:D4}-{new string('v', 200)}";
        for (int i = 0; i < 200; i++)
        {
            await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes(keys[i]), Encoding.UTF8.GetBytes(Value(i)));
        }

        var init = CliWith(Password("first passphrase"), "repo", "init", repo, "--encrypt");
        Assert.True(init.Exit == 0, init.Err);
        Assert.Contains("encrypted with AES-256-GCM", init.Out, StringComparison.Ordinal);
        // The full's chunks are hashed and compressed by the server (ids keyed here from the server's hashes), the
        // incremental's by the program (the default for a server on this host): both ways into an encrypted repository.
        var full = CliWith(Password("first passphrase"), "backup", "--server", server.Url, "--repo", repo, "--type", "full", "--json", "--compress", "server");
        Assert.True(full.Exit == 0, full.Err);
        for (int i = 200; i < 300; i++)
        {
            await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes(keys[i]), Encoding.UTF8.GetBytes(Value(i)));
        }
        var inc = CliWith(Password("first passphrase"), "backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json");
        Assert.True(inc.Exit == 0, inc.Err);

        // Every key and value went into the sets (images and logs), and none of them, nor the instance's or a
        // database's name, appears in any object of the repository.
        var needles = keys.Concat(["secret-value-", "mailbox", "databases/", "\"instance\""]).Select(Encoding.UTF8.GetBytes).ToList();
        foreach (var f in Directory.EnumerateFiles(repo, "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(f);
            foreach (var n in needles)
            {
                Assert.True(bytes.AsSpan().IndexOf(n) < 0, $"{Path.GetRelativePath(repo, f)} holds '{Encoding.UTF8.GetString(n)}' in the clear");
            }
        }

        var none = CliWith(Password(null), "list", "--repo", repo);
        Assert.NotEqual(0, none.Exit);
        Assert.Contains(RepositorySecret.PasswordVariable, none.Err, StringComparison.Ordinal);
        var wrong = CliWith(Password("not it"), "verify", "--repo", repo);
        Assert.NotEqual(0, wrong.Exit);
        Assert.Contains("does not open repository", wrong.Err, StringComparison.Ordinal);
        Assert.Equal("", wrong.Out.Trim());

        var passwd = CliWith(new Dictionary<string, string?> { [RepositorySecret.PasswordVariable] = "first passphrase", [RepositorySecret.NewPasswordVariable] = "second passphrase" }, "repo", "passwd", "--repo", repo);
        Assert.True(passwd.Exit == 0, passwd.Err);
        Assert.NotEqual(0, CliWith(Password("first passphrase"), "list", "--repo", repo).Exit);
        var verify = CliWith(Password("second passphrase"), "verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out + verify.Err);
        var list = Json(CliWith(Password("second passphrase"), "list", "--repo", repo, "--json").Out);
        Assert.Equal(2, list.GetArrayLength());

        var restore = CliWith(Password("second passphrase"), "restore", "--repo", repo, "--to", dir["restored"]);
        Assert.True(restore.Exit == 0, restore.Err);
        using var inst = Blueback.Storage.StorageInstance.Open(Path.Combine(dir["restored"], "store"), new Blueback.Storage.InstanceOptions());
        using var r = inst.BeginRead();
        var db = inst.GetDatabase("mailbox");
        for (int i = 0; i < 300; i++)
        {
            Assert.Equal(Value(i), Encoding.UTF8.GetString(r.Get(db, "t", Encoding.UTF8.GetBytes(keys[i]))!));
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task A_second_full_backup_of_an_unchanged_instance_stores_almost_nothing_and_forgetting_the_first_keeps_the_second_whole()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        var value = new byte[16 << 10];
        var rng = new Random(5);
        for (int i = 0; i < 1500; i++)
        {
            rng.NextBytes(value);
            await c.PutAsync("store", "mailbox", "t", Encoding.UTF8.GetBytes($"k{i:D5}"), value);
        }
        Assert.Equal(0, BackupProgramTests.Cli("repo", "init", repo).Exit);
        var first = Json(BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", repo, "--json").Out);
        // The first backup's truncation checkpoints the instance: the pages its logs covered reach the database file
        // then, so the next image differs in them. From there on, with no write, the images are the same pages.
        Assert.Equal(0, BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", repo).Exit);
        var second = Json(BackupProgramTests.Cli("backup", "--server", server.Url, "--repo", repo, "--json").Out);
        long bytes = second.GetProperty("bytes").GetInt64(), stored = second.GetProperty("stored").GetInt64();
        Assert.True(first.GetProperty("stored").GetInt64() > 20 << 20, "the first full stores the random values");
        // What is new: the images' header and trailer pages and the one log generation the set holds.
        Assert.True(stored < bytes * 0.02 + (4 << 20), $"the full after an unchanged one stored {stored} of {bytes} bytes");
        Assert.True(second.GetProperty("reused").GetInt64() > 20 << 20);

        Assert.Equal(0, BackupProgramTests.Cli("forget", "--repo", repo, "--keep-last", "1").Exit); // the first two go
        var gc = BackupProgramTests.Cli("repo", "gc", "--repo", repo, "--grace", "0s");
        Assert.True(gc.Exit == 0, gc.Err);
        Assert.Contains("removed", gc.Out, StringComparison.Ordinal);
        var verify = BackupProgramTests.Cli("verify", "--repo", repo);
        Assert.True(verify.Exit == 0, verify.Out);
        var restore = BackupProgramTests.Cli("restore", "--repo", repo, "--to", dir["restored"]);
        Assert.True(restore.Exit == 0, restore.Err);
        using var inst = Blueback.Storage.StorageInstance.Open(Path.Combine(dir["restored"], "store"), new Blueback.Storage.InstanceOptions());
        using var r = inst.BeginRead();
        Assert.Equal(1500, r.Scan(inst.GetDatabase("mailbox"), "t", null, null).Count());
    }
}
