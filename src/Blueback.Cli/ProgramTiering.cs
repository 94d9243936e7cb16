using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;

namespace Blueback.Cli;

/// <summary>Runs a backup or a verify with the runtime's tiered compilation off. Such a run is seconds of bulk work in a
/// fresh process, and tiering compiles its hot code twice more (instrumented, then optimized) on a background thread:
/// about 1 CPU second per backup here (perf: 46% of the program's CPU in that thread), as much as the program spends
/// receiving and writing a GB, taken from the 2 cores the server needs. The ReadyToRun code is enough for these
/// commands, whose bulk work is native (zstd, SHA-256, AES-GCM, CRC32C). The server keeps tiering: in the long run its
/// dynamic PGO saves about 10% of its CPU per put. The runtime reads the setting only as it starts, and the server and
/// the program are one executable, so the program replaces itself (execve: the same process id, process group, open
/// files and terminal) with the setting added to its environment; docs/benchmarks.md, issue 31, has the figures.</summary>
internal static partial class ProgramTiering
{
    private const string Setting = "DOTNET_TieredCompilation";

    // Restore and prove replay logs through the engine in this process (managed work that can run for minutes, which
    // tiering pays for), so they are not listed.
    private static readonly string[] Commands = ["backup", "verify"];

    /// <summary>Replaces this process with itself, tiering off, when <paramref name="args"/> run one of
    /// <see cref="Commands"/>, this program was compiled ReadyToRun (as published; a build without it would compile
    /// everything fully optimized before use instead) and nobody chose the setting (which also marks the replaced
    /// process, so it happens once). Returns only when it does not apply or execve failed; the command then runs here as
    /// it is.</summary>
    public static void Apply(string[] args)
    {
        if (!OperatingSystem.IsLinux() || !Applies(args, Environment.GetEnvironmentVariable(Setting), IsReadyToRun))
        {
            return;
        }
        string[] argv;
        try
        {
            // The command line as started (`blueback backup ...` or `dotnet blueback.dll backup ...`), for /proc/self/exe.
            argv = File.ReadAllText("/proc/self/cmdline").TrimEnd('\0').Split('\0');
        }
        catch (IOException)
        {
            return;
        }
        var environment = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Select(k => $"{k}={Environment.GetEnvironmentVariable(k)}")
            .Append($"{Setting}=0");
        Exec("/proc/self/exe", argv, [.. environment]);
    }

    /// <summary>Whether a run of <paramref name="args"/> goes without tiering: one of <see cref="Commands"/>, the
    /// setting not chosen (<paramref name="setting"/> null) and the program compiled ReadyToRun (asked last: it reads
    /// the file's headers).</summary>
    internal static bool Applies(string[] args, string? setting, Func<bool> readyToRun) =>
        args.Length > 0 && Commands.Contains(args[0]) && setting is null && readyToRun();

    private static bool IsReadyToRun()
    {
        try
        {
            using var pe = new PEReader(File.OpenRead(typeof(ProgramTiering).Assembly.Location));
            return pe.PEHeaders.CorHeader?.ManagedNativeHeaderDirectory.Size > 0;
        }
        catch (Exception ex) when (ex is IOException or BadImageFormatException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static unsafe void Exec(string path, string[] argv, string[] environment)
    {
        var owned = new List<nint>();
        try
        {
            nint* args = (nint*)NativeMemory.Alloc((nuint)(argv.Length + 1), (nuint)sizeof(nint));
            nint* env = (nint*)NativeMemory.Alloc((nuint)(environment.Length + 1), (nuint)sizeof(nint));
            try
            {
                for (int i = 0; i < argv.Length; i++)
                {
                    owned.Add(args[i] = Marshal.StringToCoTaskMemUTF8(argv[i]));
                }
                args[argv.Length] = 0;
                for (int i = 0; i < environment.Length; i++)
                {
                    owned.Add(env[i] = Marshal.StringToCoTaskMemUTF8(environment[i]));
                }
                env[environment.Length] = 0;
                _ = ExecVe(path, args, env); // returns only on failure: run on here
            }
            finally
            {
                NativeMemory.Free(args);
                NativeMemory.Free(env);
            }
        }
        finally
        {
            owned.ForEach(Marshal.FreeCoTaskMem);
        }
    }

    [LibraryImport("libc", EntryPoint = "execve", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int ExecVe(string path, nint* argv, nint* envp);
}
