using System.Globalization;

namespace Blueback.EndToEnd.Tests;

/// <summary>The nice values of a process's threads, from /proc (field 19 of /proc/PID/task/TID/stat).</summary>
internal static class ThreadNice
{
    /// <summary>What the .NET runtime names the thread that receives POSIX signals: a program keeps it at the user's
    /// priority so that a Ctrl+C is seen at once however low its work runs.</summary>
    public const string SignalThread = ".NET SigHandler";

    /// <summary>Each thread's nice value, for the threads whose name starts with <paramref name="namePrefix"/> (all
    /// when null).</summary>
    public static List<int> Of(int pid, string? namePrefix = null) =>
        [.. Named(pid).Where(t => namePrefix is null || t.Name.StartsWith(namePrefix, StringComparison.Ordinal)).Select(t => t.Nice)];

    /// <summary>Each thread's name (as /proc shows it, at most 15 characters) and nice value.</summary>
    public static List<(string Name, int Nice)> Named(int pid) => [.. Scheduling(pid).Select(t => (t.Name, t.Nice))];

    /// <summary>SCHED_IDLE's number in /proc (0 is the normal class, SCHED_OTHER).</summary>
    public const int IdleClass = 5;

    /// <summary>Each thread's name, nice value and scheduling class (field 41 of its stat).</summary>
    public static List<(string Name, int Nice, int Policy)> Scheduling(int pid)
    {
        var threads = new List<(string, int, int)>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }
            int close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' '); // from field 3 on
            threads.Add((stat[(stat.IndexOf('(') + 1)..close], int.Parse(fields[16], CultureInfo.InvariantCulture), int.Parse(fields[38], CultureInfo.InvariantCulture)));
        }
        return threads;
    }
}
