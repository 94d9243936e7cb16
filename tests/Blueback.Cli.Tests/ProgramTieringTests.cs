namespace Blueback.Cli.Tests;

/// <summary>Which runs replace themselves to go without tiered compilation (issue 31): backup and verify of a
/// ReadyToRun build, never the server (whose dynamic PGO pays in the long run), never twice, never over a setting the
/// user chose.</summary>
public class ProgramTieringTests
{
    [Theory]
    [InlineData(new[] { "backup", "--server", "http://127.0.0.1:7420" }, true)]
    [InlineData(new[] { "verify", "--repo", "r" }, true)]
    [InlineData(new[] { "serve" }, false)]
    [InlineData(new[] { "restore", "--repo", "r" }, false)]
    [InlineData(new[] { "load" }, false)]
    [InlineData(new string[0], false)]
    public void Only_backup_and_verify_of_a_ReadyToRun_build_go_without_tiering(string[] args, bool expected)
    {
        Assert.Equal(expected, ProgramTiering.Applies(args, setting: null, readyToRun: () => true));
        Assert.False(ProgramTiering.Applies(args, setting: null, readyToRun: () => false)); // a build without ReadyToRun
    }

    [Theory]
    [InlineData("0")] // the replaced process: it must not replace itself again
    [InlineData("1")] // a setting the user chose
    public void A_setting_already_in_the_environment_is_kept(string setting)
    {
        bool asked = false;
        Assert.False(ProgramTiering.Applies(["backup"], setting, () => asked = true));
        Assert.False(asked);
    }
}
