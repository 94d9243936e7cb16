using System.Globalization;

namespace Blueback.Bench;

/// <summary>PostgreSQL 15 as a peer: its tools run as the postgres user, talking over a Unix socket in the bench's
/// own directory (no TCP port shared with anything else).</summary>
internal static class Postgres
{
    public const string Bin = "/usr/lib/postgresql/15/bin";

    public static string Tool(string tool, params string[] args) => Shell.Run("runuser", ["-u", "postgres", "--", Path.Combine(Bin, tool), .. args]);

    public static string Sql(string socketDir, int port, string sql) =>
        Tool("psql", "-h", socketDir, "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql);

    /// <summary>Server options: the socket in <paramref name="socketDir"/>, no TCP, checkpoints only when asked.</summary>
    public static string Options(string socketDir, int port) =>
        $"-p {port} -c listen_addresses='' -c unix_socket_directories={socketDir} -c max_wal_size=16GB -c checkpoint_timeout=3600 -c shared_buffers=256MB -c wal_keep_size=16GB";

    /// <summary>A fresh cluster in <paramref name="dir"/>/data, started; returns its port.</summary>
    public static int InitAndStart(string dir, string? extraOptions = null)
    {
        Directory.CreateDirectory(dir);
        Shell.Run("chown", "-R", "postgres:postgres", dir);
        var data = Path.Combine(dir, "data");
        Tool("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync");
        int port = 20000 + Random.Shared.Next(20000);
        Tool("pg_ctl", "-D", data, "-o", Options(dir, port) + (extraOptions is null ? "" : " " + extraOptions), "-l", Path.Combine(dir, "live.log"), "-w", "start");
        return port;
    }

    public static void Stop(string data) => Tool("pg_ctl", "-D", data, "-m", "fast", "-w", "stop");
}
