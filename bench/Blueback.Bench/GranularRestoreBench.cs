using System.Diagnostics;
using System.Globalization;
using System.Text;
using Blueback.Client;
using Blueback.Protocol;

namespace Blueback.Bench;

/// <summary>A table's granular restore against the whole instance's restore of the same set, in one run, alternating:
/// the served instance holds the bulk in mailbox/t and a table g of 1/64 of it in public (and the same g in mailbox).
/// Each round times, process start to exit: the whole instance restored offline (--to) and online in place (--replace);
/// g of public offline (--to, a new instance holding just g) and in place online (--replace, one transaction); g of
/// mailbox in place online, whose restore into scratch is of the big database. A granular restore restores only the table's database, so
/// its cost follows that database's size, not the instance's.</summary>
internal static class GranularRestoreBench
{
    public static void Run(string root, string url, long bytes, int rounds)
    {
        var ci = CultureInfo.InvariantCulture;
        var repo = Path.Combine(root, "granular-repo");
        Shell.Blueback("repo", "init", repo);
        long tableRows = bytes / 64 / 4096;
        using (var c = new BluebackClient(url))
        {
            var rng = new Random(5);
            Task.Run(async () =>
            {
                for (long i = 0; i < tableRows; i += 100)
                {
                    var ops = new List<BatchOp>();
                    for (long j = i; j < Math.Min(i + 100, tableRows); j++)
                    {
                        var value = new byte[4096];
                        rng.NextBytes(value);
                        var b64 = Convert.ToBase64String(value);
                        ops.Add(new BatchOp { Op = "put", Database = "public", Table = "g", Key = $"g{j:D8}", ValueBase64 = b64 });
                        ops.Add(new BatchOp { Op = "put", Database = "mailbox", Table = "g", Key = $"g{j:D8}", ValueBase64 = b64 });
                    }
                    await c.BatchAsync("store", new BatchRequest { Ops = ops });
                }
            }).GetAwaiter().GetResult();
        }
        Shell.Blueback("backup", "--server", url, "--repo", repo, "--type", "full");
        var times = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        void Time(string what, Action run)
        {
            var sw = Stopwatch.StartNew();
            run();
            (times.TryGetValue(what, out var l) ? l : times[what] = []).Add(sw.Elapsed.TotalSeconds);
        }
        // Each case against its like: offline against the whole instance offline, online in place against the whole
        // instance online in place. The order flips every round, so drift (the page cache, other load) falls on both.
        var cases = new List<(string What, Action Run)>
        {
            ("whole instance, offline", () => Shell.Blueback("restore", "--repo", repo, "--set", "latest", "--to", Path.Combine(root, "granular-whole"))),
            ("table g of public, offline", () => Shell.Blueback("restore", "--repo", repo, "--set", "latest", "--to", Path.Combine(root, "granular-table"), "--database", "public", "--table", "g", "--scratch", root)),
            ("whole instance, online --replace", () => Shell.Blueback("restore", "--repo", repo, "--set", "latest", "--server", url, "--replace")),
            ("table g of public, online --replace", () => Shell.Blueback("restore", "--repo", repo, "--set", "latest", "--server", url, "--database", "public", "--table", "g", "--replace", "--scratch", root)),
            ("table g of mailbox, online --replace", () => Shell.Blueback("restore", "--repo", repo, "--set", "latest", "--server", url, "--database", "mailbox", "--table", "g", "--replace", "--scratch", root)),
        };
        for (int round = 0; round < rounds; round++)
        {
            foreach (var (what, run) in round % 2 == 0 ? cases : Enumerable.Reverse(cases))
            {
                Time(what, run);
                foreach (var left in new[] { "granular-whole", "granular-table" }.Select(d => Path.Combine(root, d)).Where(Directory.Exists))
                {
                    Directory.Delete(left, recursive: true);
                }
            }
        }
        Directory.Delete(repo, recursive: true);
        Console.WriteLine(string.Create(ci, $"granular restore, {bytes >> 20} MiB in mailbox/t, table g {tableRows * 4096 >> 20} MiB ({tableRows:N0} rows) in public and in mailbox, best of {rounds} rounds alternating the order, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at the end:"));
        foreach (var (what, list) in times)
        {
            double whole = times[what.EndsWith("offline", StringComparison.Ordinal) ? "whole instance, offline" : "whole instance, online --replace"].Min();
            Console.WriteLine(string.Create(ci, $"  {what}: best {list.Min():0.00} s (rounds: {string.Join(", ", list.Select(t => t.ToString("0.00", ci)))}); / whole instance the same way {list.Min() / whole:0.00}"));
        }
    }
}
