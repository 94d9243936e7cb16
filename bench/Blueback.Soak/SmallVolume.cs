using System.Diagnostics;

namespace Blueback.Soak;

/// <summary>A 16 MiB tmpfs for the full-volume rounds: mounted when the soak runs as root, else none.</summary>
internal static class SmallVolume
{
    public static string? Mount(string path)
    {
        if (OperatingSystem.IsWindows() || Environment.UserName != "root")
        {
            return null;
        }
        Directory.CreateDirectory(path);
        return Run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", path) ? path : null;
    }

    public static void Unmount(string? path)
    {
        if (path is not null && Directory.Exists(path) && Environment.UserName == "root")
        {
            Run("umount", path);
        }
    }

    private static bool Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        return p.WaitForExit(10_000) && p.ExitCode == 0;
    }
}
