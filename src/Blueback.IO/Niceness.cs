using System.Globalization;
using System.Runtime.InteropServices;

namespace Blueback.IO;

/// <summary>Lowers CPU priority (the Linux nice value) for backup work, on both sides: the server's backup read
/// threads and the backup program. Linux keeps the value per thread, and a new thread starts with its creator's;
/// raising it back needs privileges, so these only lower. Elsewhere they do nothing.</summary>
public static partial class Niceness
{
    /// <summary>The default for backup work: about a tenth of a normal thread's share of a busy core.</summary>
    public const int Background = 10;

    /// <summary>The lowest nice value, which backup and proof work also pair with the idle scheduling class.</summary>
    public const int Lowest = 19;

    /// <summary>Lowers the calling thread to <paramref name="nice"/> (0 leaves it as it is).</summary>
    public static void LowerThisThread(int nice)
    {
        if (nice > 0 && OperatingSystem.IsLinux())
        {
            Set(GetTid(), nice);
        }
    }

    /// <summary>Lowers every thread of this process to <paramref name="nice"/>; threads made later inherit it. The
    /// runtime's signal thread is left as it is: a Ctrl+C is handled on it (and on the threads it makes), and a stop
    /// must not wait for the share of a busy core that the work is given.</summary>
    public static void LowerProcess(int nice)
    {
        if (nice <= 0 || !OperatingSystem.IsLinux())
        {
            return;
        }
        foreach (int tid in WorkThreads())
        {
            Set(tid, nice);
        }
    }

    /// <summary>Every thread of this process but the runtime's signal thread and a stop's threads.</summary>
    private static IEnumerable<int> WorkThreads()
    {
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out int tid) && !IsStopPath(task))
            {
                yield return tid;
            }
        }
    }

    private static bool IsStopPath(string task)
    {
        try
        {
            var name = File.ReadAllText(Path.Combine(task, "comm"));
            return name.StartsWith(SignalThreadName, StringComparison.Ordinal) || name.StartsWith(SignalHandlerThreadName, StringComparison.Ordinal)
                || name.StartsWith(StopThreadPrefix, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false; // the thread ended
        }
    }

    /// <summary>What the .NET runtime names the thread that receives POSIX signals and runs their handlers' dispatch.</summary>
    internal const string SignalThreadName = ".NET SigHandler";

    /// <summary>What /proc shows (15 characters) of the ".NET Signal Handler" threads the runtime starts for each signal
    /// to run its handlers on (a program's Ctrl+C handler, and a second Ctrl+C's exit, run there).</summary>
    internal const string SignalHandlerThreadName = ".NET Signal Han";

    /// <summary>How a program names the threads its stop runs on (started from the signal thread): left at the user's
    /// priority like the signal thread, also by <see cref="IdleProcessFromNowOn"/>'s later passes.</summary>
    public const string StopThreadPrefix = "bb-stop-";

    /// <summary>Puts every thread of this process but the signal thread in the SCHED_IDLE class: they run only on a
    /// core nothing else wants, and a waking normal thread always takes the core from them (nice 19 alone still
    /// competes at a small weight and waits its turn to be preempted).</summary>
    private static void IdleProcess()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        foreach (int tid in WorkThreads())
        {
            SetIdle(tid);
        }
    }

    private static Timer? _idleKeeper;

    /// <summary>Puts every thread of this process but the signal thread in the SCHED_IDLE class now, and again once a
    /// second for as long as the process lives: the runtime makes its thread-pool threads with the normal class set
    /// explicitly rather than inherited (a backup at --nice 19 had 12 of its 22 threads in the normal class, all at
    /// nice 19, which is inherited), so threads it makes later are moved when the next second comes.</summary>
    public static void IdleProcessFromNowOn()
    {
        IdleProcess();
        _idleKeeper ??= new Timer(_ => IdleProcess(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Puts the calling thread in the SCHED_IDLE class (see <see cref="IdleProcess"/>).</summary>
    public static void IdleThisThread()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        SetIdle(GetTid());
    }

    private static void SetIdle(int tid)
    {
        try
        {
            int priority = 0;
            _ = SetScheduler(tid, 5 /* SCHED_IDLE */, ref priority);
        }
        catch (EntryPointNotFoundException)
        {
            // An older C library: nice alone.
        }
    }

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SetScheduler(int pid, int policy, ref int param);

    private static void Set(int tid, int nice)
    {
        try
        {
            _ = SetPriority(0 /* PRIO_PROCESS: with a thread id, that thread only */, tid, nice);
        }
        catch (EntryPointNotFoundException)
        {
            // An older C library: normal priority.
        }
    }

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int prio);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();
}
