using System.Text;
using Blueback.Repository.Chain;
using Blueback.Repository.Compression;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Repository.Tests;

/// <summary>The repository's hash chain: every commit and forget adds an entry, and each kind of tampering is
/// named by the check (in a local directory, where a test can do what an attacker with the files could).</summary>
public class ChainTests
{
    private static async Task<BackupSetWriter> CommitAsync(BackupRepository repo, string id, int seed = 1)
    {
        var content = new byte[20_000];
        new Random(seed).NextBytes(content);
        var w = repo.BeginSet(id, Codec.Default(), 64 << 10);
        await w.AddFileAsync("databases/x.bdb", new MemoryStream(content));
        await w.CommitAsync(w.Describing(new Manifest { Instance = "store", Type = "full", GenLow = 1, GenHigh = 1, Ended = DateTime.UtcNow }));
        return w;
    }

    private static string Entry(TempDir dir, long seq) => Path.Combine(dir.Path, RepositoryChain.EntryKey(seq));

    private static async Task<(TempDir Dir, BackupRepository Repo)> ThreeSetsAsync()
    {
        var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        await CommitAsync(repo, "set-a", 1);
        await CommitAsync(repo, "set-b", 2);
        await CommitAsync(repo, "set-c", 3);
        return (dir, repo);
    }

    private static async Task<List<string>> ProblemsAsync(BackupRepository repo, ChainHead? expected = null) =>
        (await repo.CheckChainAsync(expected)).Problems;

    [Fact]
    public async Task Every_commit_and_forget_adds_one_entry_and_an_untouched_chain_checks_clean()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        var w = await CommitAsync(repo, "set-d", 4);
        Assert.Equal(new ChainHead(5, w.ChainHead!.Value.Hash), await repo.ChainHeadAsync());
        await repo.ForgetAsync("set-a");
        var report = await repo.CheckChainAsync(null);
        Assert.Empty(report.Problems);
        Assert.Equal(6, report.Entries);
        Assert.Equal(6, report.Head!.Value.Seq);
        Assert.Equal(0, report.Baseline);
        // A forget repeated after its manifest went records nothing more.
        await repo.ForgetAsync("set-a");
        Assert.Equal(6, (await repo.ChainHeadAsync())!.Value.Seq);
        // gc after the forget removes the set, which the chain accounts for.
        await repo.CollectGarbageAsync(TimeSpan.Zero);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "sets", "set-a")));
        Assert.Empty(await ProblemsAsync(repo, report.Head));
    }

    [Fact]
    public async Task A_set_removed_without_a_forget_is_named()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        Directory.Delete(Path.Combine(dir.Path, "sets", "set-b"), recursive: true);
        var problem = Assert.Single(await ProblemsAsync(repo));
        Assert.Contains("set set-b (committed at chain entry 3) is gone, and no forget was recorded", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_changed_or_replaced_manifest_is_named()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        // set-c's manifest put in place of set-b's (a whole, valid manifest, of another set).
        File.Copy(Path.Combine(dir.Path, "sets", "set-c", "manifest.json"), Path.Combine(dir.Path, "sets", "set-b", "manifest.json"), overwrite: true);
        var problem = Assert.Single(await ProblemsAsync(repo));
        Assert.Contains("set set-b: its manifest is not the one committed at chain entry 3", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_set_put_in_from_outside_is_named()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        var planted = Path.Combine(dir.Path, "sets", "planted");
        Directory.CreateDirectory(planted);
        File.Copy(Path.Combine(dir.Path, "sets", "set-a", "manifest.json"), Path.Combine(planted, "manifest.json"));
        var problem = Assert.Single(await ProblemsAsync(repo));
        Assert.Contains("set planted is in no chain entry", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_entry_removed_from_the_middle_is_named()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        File.Delete(Entry(dir, 2));
        var problems = await ProblemsAsync(repo);
        Assert.Contains(problems, p => p.Contains("entry 2 ('chain/000000000002.json') is missing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Entries_swapped_are_named()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        File.Move(Entry(dir, 2), Entry(dir, 99));
        File.Move(Entry(dir, 3), Entry(dir, 2));
        File.Move(Entry(dir, 99), Entry(dir, 3));
        var problems = await ProblemsAsync(repo);
        Assert.Contains(problems, p => p.Contains("'chain/000000000002.json' says it is entry 3", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'chain/000000000003.json' says it is entry 2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_entry_inserted_with_the_later_ones_renumbered_is_named()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        // Entries 3 and 4 move up one; a forged entry 3 that links to entry 2 takes the gap.
        File.Move(Entry(dir, 4), Entry(dir, 5));
        File.Move(Entry(dir, 3), Entry(dir, 4));
        var prev = RepositoryChain.HashOf(await File.ReadAllBytesAsync(Entry(dir, 2)));
        await File.WriteAllTextAsync(Entry(dir, 3), $$"""{"seq":3,"prev":"{{prev}}","repository":"{{repo.Id}}","time":"2026-01-01T00:00:00Z","kind":"forget","set":"set-a"}""");
        var problems = await ProblemsAsync(repo);
        Assert.Contains(problems, p => p.Contains("'chain/000000000004.json' says it is entry 3", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'chain/000000000004.json' does not follow the entry before it", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_changed_entry_breaks_the_link_after_it()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        var text = await File.ReadAllTextAsync(Entry(dir, 2));
        await File.WriteAllTextAsync(Entry(dir, 2), text.Replace("set-a", "set-x", StringComparison.Ordinal));
        var problems = await ProblemsAsync(repo);
        Assert.Contains(problems, p => p.Contains("'chain/000000000003.json' does not follow the entry before it", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("set set-a is in no chain entry", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chain_cut_short_is_named_against_the_head_recorded_elsewhere()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        var head = (await repo.ChainHeadAsync())!.Value;
        // The newest set and its entry go: the chain is whole in itself, only the head recorded elsewhere shows it.
        Directory.Delete(Path.Combine(dir.Path, "sets", "set-c"), recursive: true);
        File.Delete(Entry(dir, 4));
        Assert.Empty(await ProblemsAsync(repo));
        var problem = Assert.Single(await ProblemsAsync(repo, head));
        Assert.Contains("it ends at entry 3, but its head was entry 4 when recorded: the entries after 3 were removed (the chain was cut short)", problem, StringComparison.Ordinal);
        // Given as the user types it: the first 16 hex digits.
        Assert.Single(await ProblemsAsync(repo, ChainHead.Parse($"4:{head.Hash[..16]}")));
    }

    [Fact]
    public async Task A_plain_chain_rebuilt_whole_is_named_against_the_head_recorded_elsewhere()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        var head = (await repo.ChainHeadAsync())!.Value;
        // Whoever holds a plain repository's files can write a consistent chain without set-b: only the head shows it.
        Directory.Delete(Path.Combine(dir.Path, "sets", "set-b"), recursive: true);
        Directory.Delete(Path.Combine(dir.Path, "chain"), recursive: true);
        repo = await BackupRepository.OpenAsync(new LocalDirectoryStore(dir.Path)); // a new process, which never saw the old chain
        await CommitAsync(repo, "set-e", 5); // starts a new chain whose baseline is what is left
        await CommitAsync(repo, "set-f", 6);
        await CommitAsync(repo, "set-g", 7);
        Assert.Equal(2, (await repo.CheckChainAsync(null)).Baseline);
        Assert.Empty(await ProblemsAsync(repo));
        var problem = Assert.Single(await ProblemsAsync(repo, head));
        Assert.Contains("chain: entry 4 is not the one recorded as the head", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_repository_without_a_chain_starts_one_at_its_next_commit_with_a_baseline()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        await CommitAsync(repo, "old-1", 1);
        await CommitAsync(repo, "old-2", 2);
        Directory.Delete(Path.Combine(dir.Path, "chain"), recursive: true); // as a repository written before chains
        repo = await BackupRepository.OpenAsync(new LocalDirectoryStore(dir.Path)); // opened by a build that has them
        var none = await repo.CheckChainAsync(null);
        Assert.Null(none.Head);
        Assert.Empty(none.Problems);

        await CommitAsync(repo, "new-1", 3);
        var report = await repo.CheckChainAsync(null);
        Assert.Empty(report.Problems);
        Assert.Equal(2, report.Baseline);
        Assert.Equal(2, report.Entries);
        Assert.NotNull(report.Began);
        // The sets of the baseline are held to the hashes recorded when the chain began.
        File.Copy(Path.Combine(dir.Path, "sets", "new-1", "manifest.json"), Path.Combine(dir.Path, "sets", "old-1", "manifest.json"), overwrite: true);
        var problem = Assert.Single(await ProblemsAsync(repo));
        Assert.Contains("set old-1: its manifest is not the one held when the chain began (entry 1)", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commits_racing_for_the_same_entry_never_fork_the_chain()
    {
        using var dir = new TempDir();
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        // Each writer opens the repository on its own, as separate backup processes do.
        var writers = Enumerable.Range(0, 12).Select(async i =>
        {
            var own = await BackupRepository.OpenAsync(new LocalDirectoryStore(dir.Path));
            await CommitAsync(own, $"race-{i:D2}", i);
        });
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromMinutes(2));
        var report = await repo.CheckChainAsync(null);
        Assert.Empty(report.Problems);
        Assert.Equal(13, report.Entries);
        Assert.Equal(13, Directory.GetFiles(Path.Combine(dir.Path, "chain")).Length);
    }

    [Fact]
    public async Task A_writer_that_appended_before_follows_the_entries_others_added_since()
    {
        using var dir = new TempDir();
        var first = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path));
        var other = await BackupRepository.OpenAsync(new LocalDirectoryStore(dir.Path));
        await CommitAsync(first, "one", 1); // first now knows entry 2 as its tip
        await CommitAsync(other, "two", 2);
        await CommitAsync(other, "three", 3);
        var w = await CommitAsync(first, "four", 4); // entry 5, chained onto "three", not onto what first knew
        Assert.Equal(5, w.ChainHead!.Value.Seq);
        var report = await first.CheckChainAsync(w.ChainHead);
        Assert.Empty(report.Problems);
        Assert.Equal(5, report.Entries);
    }

    [Fact]
    public async Task An_encrypted_repository_seals_its_entries_and_names_a_changed_one()
    {
        using var dir = new TempDir();
        using var keys = new TempDir();
        var secret = RepositorySecret.CreateKeyFile(Path.Combine(keys.Path, "key"));
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(dir.Path), BackupRepository.FormatVersion, secret);
        await CommitAsync(repo, "secret-set", 1);
        var stored = await File.ReadAllBytesAsync(Entry(dir, 2));
        Assert.DoesNotContain("secret-set", Encoding.Latin1.GetString(stored), StringComparison.Ordinal);
        Assert.Empty(await ProblemsAsync(repo));
        stored[^3] ^= 0x40;
        await File.WriteAllBytesAsync(Entry(dir, 2), stored);
        var problems = await ProblemsAsync(repo);
        Assert.Contains(problems, p => p.Contains("entry 'chain/000000000002.json' cannot be read", StringComparison.Ordinal) && p.Contains("AES-GCM", StringComparison.Ordinal));
        // An entry moved to another number fails to open as well: each is sealed to its own name.
        File.Move(Entry(dir, 2), Entry(dir, 3));
        Assert.Contains(await ProblemsAsync(repo), p => p.Contains("entry 'chain/000000000003.json' cannot be read", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Objects_in_the_chain_that_are_not_entries_are_named()
    {
        var (dir, repo) = await ThreeSetsAsync();
        using var _ = dir;
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "chain", "000000000002a.json"), "{}");
        Assert.Contains(await ProblemsAsync(repo), p => p.Contains("'chain/000000000002a.json': its name is not an entry's", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("12")]
    [InlineData("x:abcdef0123456789")]
    [InlineData("0:abcdef0123456789")]
    [InlineData("3:abc")]
    [InlineData("3:zzzzzzzzzzzzzzzzzz")]
    public void A_malformed_head_is_refused_saying_how_to_write_one(string text) =>
        Assert.Throws<FormatException>(() => ChainHead.Parse(text));
}
