namespace Blueback.Backup.Tests;

/// <summary>Where a backup hashes and compresses by default: on a remote server (the link carries compressed bytes,
/// and none the repository holds), here for a server on this host (its CPU is the instance's), and on the server
/// whenever unchanged pages are to be skipped (only the server's chunks can be named from a base set).</summary>
public class CompressionSiteTests
{
    [Theory]
    [InlineData("http://backup-host:7420", false, true)]
    [InlineData("http://192.0.2.7:7420", false, true)]
    [InlineData("http://127.0.0.1:7420", false, false)]
    [InlineData("unix:/run/blueback/blueback.sock", false, false)]
    [InlineData("http://127.0.0.1:7420", true, true)]
    [InlineData("unix:/run/blueback/blueback.sock", true, true)]
    [InlineData("http://backup-host:7420", true, true)]
    public void The_server_compresses_unless_it_is_on_this_host_and_nothing_is_skipped(string server, bool skipUnchanged, bool onServer) =>
        Assert.Equal(onServer, BackupRequest.CompressOnServerFor(server, skipUnchanged));
}
