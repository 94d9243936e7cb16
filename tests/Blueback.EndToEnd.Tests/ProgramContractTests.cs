using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Protocol.Programs;

namespace Blueback.EndToEnd.Tests;

/// <summary>The contract the server's policies (and any script) read the <c>blueback</c> program by: each <c>--json</c>
/// output is exactly a record of <see cref="Blueback.Protocol.Programs"/> (no member it does not name, none missing),
/// and each exit code means one thing (<see cref="ExitCodes"/>).</summary>
public class ProgramContractTests
{
    private static readonly JsonSerializerOptions Strict = new()
    {
        TypeInfoResolver = ProtocolJson.Default,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectRequiredConstructorParameters = true,
    };

    private static (int Exit, string Out, string Err, TimeSpan Took) Cli(params string[] args) => BackupProgramTests.Cli(args);

    private static T Read<T>((int Exit, string Out, string Err, TimeSpan Took) run)
    {
        Assert.True(run.Exit == ExitCodes.Ok, $"exit {run.Exit}: {run.Err}");
        return JsonSerializer.Deserialize<T>(run.Out, Strict) ?? throw new InvalidOperationException("null output");
    }

    [Fact(Timeout = 300_000)]
    [Trait(Tier.Category, Tier.Slow)]
    public async Task Every_json_output_is_its_typed_record_and_reads_back_whole()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(ExitCodes.Ok, Cli("repo", "init", repo).Exit);
        BackupOutput full, inc;
        using (var server = await ServerProcess.StartAsync(dir["data"]))
        using (var c = new BluebackClient(server.Url))
        {
            await c.PutAsync("store", "mailbox", "t", "k1"u8.ToArray(), "v1"u8.ToArray());
            full = Read<BackupOutput>(Cli("backup", "--server", server.Url, "--repo", repo, "--type", "full", "--digest", "--json"));
            await c.PutAsync("store", "mailbox", "t", "k2"u8.ToArray(), "v2"u8.ToArray());
            inc = Read<BackupOutput>(Cli("backup", "--server", server.Url, "--repo", repo, "--type", "incremental", "--json"));
        }
        Assert.Equal(32, full.Set.Length);
        Assert.Equal(("store", "full", null), (full.Instance, full.Type, full.Parent));
        Assert.True(full.Bytes > 0 && full.Stored > 0 && full.Seconds > 0 && full.GenHigh >= full.GenLow && full.Digest && !full.Committed, JsonSerializer.Serialize(full, Strict));
        Assert.Equal(full.Set, inc.Parent);

        var proved = Read<ProveOutput>(Cli("prove", "--repo", repo, "--set", full.Set, "--json", "--nice", "0"));
        Assert.Equal(full.Set, proved.Set);
        Assert.True(proved.Proof.Ok && proved.Proof.DigestMatch == true && proved.Proof.PagesChecked > 0, string.Join("; ", proved.Proof.Problems));
        Assert.Equal([full.Set], proved.Proof.Chain);

        var listed = Read<List<ListedSet>>(Cli("list", "--repo", repo, "--json"));
        Assert.Equal([full.Set, inc.Set], listed.Select(s => s.Id));
        Assert.Equal(full.Bytes, listed[0].Size);
        Assert.True(listed[0].Digest && listed[0].Proved is { Ok: true } && listed[1].Proved is null && listed[1].Parent == full.Set);

        var forget = Read<ForgetOutput>(Cli("forget", "--repo", repo, "--keep-last", "1", "--dry-run", "--json"));
        Assert.True(forget.DryRun);
        // keep-last 1 keeps the incremental by the rule and its full because the incremental needs it.
        Assert.Equal(new[] { full.Set, inc.Set }.Order(StringComparer.Ordinal), forget.Kept.Select(k => k.Id).Order(StringComparer.Ordinal));
        Assert.Empty(forget.Forgotten);
        Assert.All(forget.Kept, k => Assert.NotEmpty(k.Reasons!));
    }

    [Fact] // synchronous: each program run is bounded by Cli
    public void Exit_codes_tell_a_wrong_command_line_a_missing_object_and_a_failure_apart()
    {
        using var dir = new TempDir();
        var repo = dir["repo"];
        Assert.Equal(ExitCodes.Ok, Cli("repo", "init", repo).Exit);

        var usage = Cli("verify", "--rep", repo);
        Assert.Equal(ExitCodes.Usage, usage.Exit);
        Assert.Contains("'--rep'", usage.Err, StringComparison.Ordinal);
        Assert.Contains("'blueback verify --help' lists its options", usage.Err, StringComparison.Ordinal);
        Assert.True(usage.Err.Split('\n').Length < 8, usage.Err); // the error, not the whole help above it

        var noRepo = Cli("list", "--repo", dir["nosuch"]);
        Assert.Equal(ExitCodes.NotFound, noRepo.Exit);
        Assert.Contains("is not a Blueback repository", noRepo.Err, StringComparison.Ordinal);

        const string unknown = "0123456789abcdef0123456789abcdef";
        Assert.Equal(ExitCodes.NotFound, Cli("prove", "--repo", repo, "--set", unknown).Exit);
        Assert.Equal(ExitCodes.NotFound, Cli("restore", "--repo", repo, "--set", unknown, "--to", dir["to"]).Exit);

        // A failure is 2: the repository exists, the command cannot do what it asks.
        Assert.Equal(ExitCodes.Failed, Cli("repo", "init", repo).Exit);
    }
}
