using Blueback.Server;
using Blueback.Server.Security;

namespace Blueback.Server.Tests;

/// <summary>Who may call what, and the token store on disk: secrets are checked against salted hashes, never kept,
/// survive a restart (ephemeral ones do not), and a damaged store or a bad admin token file is refused by name.</summary>
public class TokenStoreTests
{
    [Theory]
    [InlineData(Role.Admin, Role.Read, true)]
    [InlineData(Role.Admin, Role.Write, true)]
    [InlineData(Role.Admin, Role.Backup, true)]
    [InlineData(Role.Admin, Role.Restore, true)]
    [InlineData(Role.Admin, Role.Admin, true)]
    [InlineData(Role.Write, Role.Read, true)]
    [InlineData(Role.Write, Role.Write, true)]
    [InlineData(Role.Write, Role.Backup, false)]
    [InlineData(Role.Write, Role.Admin, false)]
    [InlineData(Role.Read, Role.Read, true)]
    [InlineData(Role.Read, Role.Write, false)]
    [InlineData(Role.Backup, Role.Backup, true)]
    [InlineData(Role.Backup, Role.Read, false)]
    [InlineData(Role.Backup, Role.Restore, false)]
    [InlineData(Role.Restore, Role.Restore, true)]
    [InlineData(Role.Restore, Role.Backup, false)]
    [InlineData(Role.Restore, Role.Admin, false)]
    public void A_role_grants_itself_write_grants_read_and_admin_grants_everything(Role held, Role needed, bool granted) =>
        Assert.Equal(granted, Roles.Grants(held, needed));

    [Theory]
    [InlineData("backup", true, Role.Backup)]
    [InlineData("ADMIN", true, Role.Admin)]
    [InlineData("2", false, Role.Read)]
    [InlineData("superuser", false, Role.Read)]
    [InlineData("", false, Role.Read)]
    [InlineData(null, false, Role.Read)]
    public void Role_names_parse_ignoring_case_but_numbers_and_unknown_names_do_not(string? text, bool ok, Role expected)
    {
        Assert.Equal(ok, Roles.TryParse(text, out var role));
        if (ok)
        {
            Assert.Equal(expected, role);
            Assert.Equal(text!.ToLowerInvariant(), Roles.Name(role));
        }
    }

    [Fact]
    public void The_first_start_writes_an_admin_token_that_verifies_and_no_secret_is_kept_in_the_store()
    {
        using var dir = new TempDir();
        var store = TokenStore.Open(dir.Path, null, out var created);
        Assert.Equal(store.AdminTokenPath, created);
        var admin = File.ReadAllText(created!).Trim();
        Assert.StartsWith(TokenStore.Prefix, admin, StringComparison.Ordinal);
        Assert.Equal("admin", store.Verify(admin)!.Role);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(created!));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(store.Directory, "tokens.json")));
        }
        var secret = admin[(admin.LastIndexOf('_') + 1)..];
        Assert.DoesNotContain(secret, File.ReadAllText(Path.Combine(store.Directory, "tokens.json")), StringComparison.Ordinal);

        // A second start finds the store: no new admin token is written.
        var again = TokenStore.Open(dir.Path, null, out var createdAgain);
        Assert.Null(createdAgain);
        Assert.Equal("admin", again.Verify(admin)!.Role);
    }

    [Fact]
    public void A_token_verifies_only_with_its_own_secret_until_it_is_revoked_and_that_holds_after_a_restart()
    {
        using var dir = new TempDir();
        var store = TokenStore.Open(dir.Path, null, out _);
        var (token, entry) = store.Create("nightly", Role.Backup);
        Assert.Equal("backup", store.Verify(token)!.Role);

        var last = token[^1];
        var tampered = token[..^1] + (last == 'A' ? 'B' : 'A');
        Assert.Null(store.Verify(tampered));
        var other = TokenStore.NewToken();
        Assert.Null(store.Verify($"{TokenStore.Prefix}{entry.Id}_{other[(other.LastIndexOf('_') + 1)..]}")); // its id, another secret
        Assert.Null(store.Verify(null));
        Assert.Null(store.Verify("Bearer " + token));
        Assert.Null(store.Verify(token.ToUpperInvariant()));

        var reopened = TokenStore.Open(dir.Path, null, out _);
        Assert.Equal("nightly", reopened.Verify(token)!.Name);
        Assert.True(reopened.Revoke(entry.Id));
        Assert.False(reopened.Revoke(entry.Id));
        Assert.Null(reopened.Verify(token));
        Assert.Null(TokenStore.Open(dir.Path, null, out _).Verify(token));
    }

    [Fact]
    public void An_ephemeral_token_verifies_in_this_process_only_and_is_never_written()
    {
        using var dir = new TempDir();
        var store = TokenStore.Open(dir.Path, null, out _);
        var token = store.CreateEphemeral("policy nightly", Role.Backup);
        Assert.Equal("backup", store.Verify(token)!.Role);
        Assert.DoesNotContain(store.List(), t => t.Name == "policy nightly");
        Assert.Null(TokenStore.Open(dir.Path, null, out _).Verify(token));
    }

    [Fact]
    public void An_admin_token_chosen_by_file_is_the_one_that_verifies_and_a_file_without_a_token_is_refused()
    {
        using var dir = new TempDir();
        var chosen = TokenStore.NewToken();
        File.WriteAllText(dir["admin.in"], chosen + "\n");
        var store = TokenStore.Open(dir["data"], dir["admin.in"], out _);
        Assert.Equal("admin", store.Verify(chosen)!.Role);

        File.WriteAllText(dir["bad.in"], "hunter2");
        var ex = Assert.Throws<ServerConfigException>(() => TokenStore.Open(dir["data2"], dir["bad.in"], out _));
        Assert.Contains("bad.in", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_damaged_token_store_is_refused_naming_the_file_and_the_remedy()
    {
        using var dir = new TempDir();
        TokenStore.Open(dir.Path, null, out _);
        var path = Path.Combine(dir.Path, "auth", "tokens.json");
        File.WriteAllText(path, "[{\"id\":");
        var ex = Assert.Throws<ServerConfigException>(() => TokenStore.Open(dir.Path, null, out _));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
    }
}
