using System.Globalization;

namespace Blueback.EndToEnd.Tests;

/// <summary>The nice values of a process's threads, from /proc (field 19 of /proc/PID/task/TID/stat).</summary>
internal static class ThreadNice
{
    /// <summary>Each thread's nice value, for the threads whose name starts with <paramref name="namePrefix"/> (all
    /// when null).</summary>
    public static List<int> Of(int pid, string? namePrefix = null)
    {
        var nice = new List<int>();
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
            if (namePrefix is null || stat[(stat.IndexOf('(') + 1)..close].StartsWith(namePrefix, StringComparison.Ordinal))
            {
                nice.Add(int.Parse(stat[(close + 2)..].Split(' ')[16], CultureInfo.InvariantCulture));
            }
        }
        return nice;
    }
}
