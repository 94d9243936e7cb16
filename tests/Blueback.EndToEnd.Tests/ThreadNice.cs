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
    public static List<(string Name, int Nice)> Named(int pid)
    {
        var threads = new List<(string, int)>();
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
            threads.Add((stat[(stat.IndexOf('(') + 1)..close], int.Parse(stat[(close + 2)..].Split(' ')[16], CultureInfo.InvariantCulture)));
        }
        return threads;
    }
}
