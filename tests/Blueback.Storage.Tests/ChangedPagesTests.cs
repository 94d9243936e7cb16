using Blueback.Storage.Backup;
using Blueback.Storage.Format;
using Blueback.Storage.Log;
using Blueback.Storage.Restore;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>Changed-pages backups in the engine: the page summaries name every page a generation changed (checked
/// against the pages' own LSNs), a chain of full + changed-pages sets composes to exactly the source's rows, and a
/// summary that is gone with its log is named as the reason to fall back, never skipped.</summary>
public class ChangedPagesTests
{
    private static readonly InstanceOptions Opts = Small.Options with { CheckpointLogBytes = 1 << 20, SummarizeInBackground = false };

    private static void Write(StorageInstance inst, Random rng, int count, int keys)
    {
        var a = inst.GetDatabase("a");
        for (int i = 0; i < count; i++)
        {
            using var tx = inst.BeginWrite();
            int k = rng.Next(keys);
            if (rng.Next(10) == 0)
            {
                tx.Delete(a, "t", B($"k{k:D6}"));
            }
            else
            {
                tx.Put(a, "t", B($"k{k:D6}"), new byte[rng.Next(10, 900)]);
            }
            tx.Commit(CommitMode.Lazy);
        }
    }

    private static void Load(StorageInstance inst, int keys)
    {
        var a = inst.GetDatabase("a");
        for (int i = 0; i < keys; i += 100)
        {
            using var tx = inst.BeginWrite();
            for (int k = i; k < Math.Min(keys, i + 100); k++)
            {
                tx.Put(a, "t", B($"k{k:D6}"), new byte[500]);
            }
            tx.Commit(CommitMode.Lazy);
        }
    }

    private static Dictionary<string, int> Rows(StorageInstance inst)
    {
        using var r = inst.BeginRead();
        return r.Scan(inst.GetDatabase("a"), "t").ToDictionary(kv => S(kv.Key), kv => kv.Value.Length);
    }

    /// <summary>A set as the backup program stores it: per database a whole image or a changed-pages image, and logs.</summary>
    private sealed record Set(uint GenLow, uint GenHigh, Dictionary<string, byte[]> Images, Dictionary<string, byte[]> Pages, SortedDictionary<uint, byte[]> Logs, Dictionary<string, string?> Problems);

    private static Set Take(StorageInstance inst, BackupType type, uint? changedSince = null)
    {
        var b = inst.BeginBackup(type, changedSince);
        var set = new Set(b.GenLow, 0, [], [], [], []);
        foreach (var db in b.Databases.Where(_ => b.ReadsDatabases))
        {
            var list = b.ChangedPages(db.Name);
            set.Problems[db.Name] = list?.Problem;
            using var s = list?.Pages is not null ? b.OpenChangedPages(db.Name) : b.OpenDatabaseImage(db.Name);
            var bytes = ReadAll(s);
            (list?.Pages is not null ? set.Pages : set.Images)[db.Name] = bytes;
        }
        foreach (var log in b.ListLogs())
        {
            using var s = b.OpenLog(log.Generation);
            set.Logs[log.Generation] = ReadAll(s);
        }
        if (type.Truncates())
        {
            b.Truncate();
        }
        b.End();
        return set with { GenHigh = b.GenHigh!.Value };
    }

    private static byte[] ReadAll(Stream s)
    {
        using var ms = new MemoryStream();
        s.CopyTo(ms, 12345); // odd pieces: the stream must not care where reads end
        Assert.Equal(s.Length, ms.Length);
        return ms.ToArray();
    }

    /// <summary>The product's composition: the newest whole image, every later set's changed pages over it, then the
    /// logs of the last set that holds pages, recovered.</summary>
    private static StorageInstance Restore(string dir, IReadOnlyList<Set> chain)
    {
        int last = Enumerable.Range(0, chain.Count).Last(i => chain[i].Images.Count + chain[i].Pages.Count > 0);
        var record = new RestoreRecord { GenLow = chain[last].GenLow, GenHigh = chain[^1].GenHigh, ConsistentAfter = chain[last].GenHigh, LogSignature = default, PlayForward = false, Created = DateTime.UtcNow };
        using (var w = RestoreWriter.Begin(dir, record, replace: false))
        {
            int image = Enumerable.Range(0, last + 1).Last(i => chain[i].Images.ContainsKey("a"));
            var full = chain[image].Images["a"];
            w.WriteDatabaseAsync("a", full.Length, null, (d, ct) => d.WriteAsync(full, ct).AsTask(), CancellationToken.None).GetAwaiter().GetResult();
            for (int i = image + 1; i <= last; i++)
            {
                if (chain[i].Pages.TryGetValue("a", out var pages))
                {
                    w.ApplyChangedPagesAsync("a", pages.Length, null, (d, ct) => d.WriteAsync(pages, ct).AsTask(), CancellationToken.None).GetAwaiter().GetResult();
                }
            }
            foreach (var s in chain.Skip(last))
            {
                foreach (var (g, bytes) in s.Logs)
                {
                    File.WriteAllBytes(LogFiles.PathOf(w.LogDirectory, g), bytes);
                }
            }
            w.Complete();
        }
        HardRecovery.Run(dir, Opts);
        return StorageInstance.Open(dir, Opts);
    }

    [Fact(Timeout = 60_000)]
    public async Task Summaries_name_every_page_whose_lsn_is_at_or_after_the_base_generation()
    {
        await Task.Yield(); // off the test's thread: the bound applies
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir["i"], Opts);
        inst.CreateDatabase("a");
        var rng = new Random(7);
        Write(inst, rng, 300, 2000);
        var full = Take(inst, BackupType.Full);
        Write(inst, rng, 1500, 2000); // several generations and checkpoints
        var b = inst.BeginBackup(BackupType.Incremental, full.GenLow);
        var listed = b.ChangedPages("a")!.Pages!.ToHashSet();
        b.Abort();
        inst.Checkpoint();
        var db = inst.GetDatabase("a");
        var page = new byte[db.PageSize];
        long pages = RandomAccess.GetLength(db.File.Handle) / db.PageSize;
        int changed = 0;
        for (uint p = FormatConstants.FirstDataPage; p < pages; p++)
        {
            db.File.ReadRaw(p, page);
            if (Checksum.IsAllZero(page))
            {
                continue;
            }
            var lsn = Lsn.FromValue(PageHeader.Read(page).Lsn);
            // Nothing was written after the backup began: every page changed since the base must be listed.
            if (lsn.Generation >= full.GenLow)
            {
                changed++;
                Assert.True(listed.Contains(p), $"page {p} (LSN {lsn}) changed since generation {full.GenLow} but is not in the map");
            }
        }
        Assert.True(changed > 10, $"only {changed} pages changed: the test wrote too little");
        Assert.True(listed.Count < pages - 2, "every page is listed: the map says nothing");
    }

    [Fact(Timeout = 120_000)]
    public async Task Full_plus_changed_pages_incrementals_and_a_log_only_one_restore_every_row()
    {
        await Task.Yield(); // off the test's thread: the bound applies
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir["i"], Opts);
        inst.CreateDatabase("a");
        var rng = new Random(11);
        Load(inst, 6000);
        var full = Take(inst, BackupType.Full);
        Write(inst, rng, 60, 6000);
        var inc1 = Take(inst, BackupType.Incremental, full.GenLow);
        Assert.Empty(inc1.Images);
        Assert.True(inc1.Pages["a"].Length < full.Images["a"].Length, "the changed pages are not fewer than the whole image");
        Write(inst, rng, 400, 6000);
        var inc2 = Take(inst, BackupType.Incremental, inc1.GenLow);
        Write(inst, rng, 200, 6000);
        var logOnly = Take(inst, BackupType.Incremental);
        Assert.Equal(inc2.GenHigh + 1, logOnly.GenLow); // a log-only incremental follows a changed-pages one
        var expected = Rows(inst);
        string path;
        using (var restored = Restore(dir["r"], [full, inc1, inc2, logOnly]))
        {
            Assert.Equal(expected, Rows(restored));
            path = restored.GetDatabase("a").File.Path;
        }
        var check = Diagnostics.DatabaseCheck.Checksum(path);
        Assert.True(check.Ok, string.Join("; ", check.Bad));
    }

    [Fact(Timeout = 120_000)]
    public async Task A_changed_pages_differential_after_incrementals_restores_from_the_full_alone()
    {
        await Task.Yield(); // off the test's thread: the bound applies
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir["i"], Opts);
        inst.CreateDatabase("a");
        var rng = new Random(3);
        Write(inst, rng, 500, 2000);
        var full = Take(inst, BackupType.Full);
        Write(inst, rng, 300, 2000);
        Take(inst, BackupType.Incremental, full.GenLow); // truncates logs; the summaries stay
        Write(inst, rng, 300, 2000);
        var diff = Take(inst, BackupType.Differential, full.GenLow);
        Assert.Null(diff.Problems["a"]);
        var expected = Rows(inst);
        using var restored = Restore(dir["r"], [full, diff]);
        Assert.Equal(expected, Rows(restored));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_generation_whose_summary_and_log_are_both_gone_is_named_and_the_backup_falls_back()
    {
        await Task.Yield(); // off the test's thread: the bound applies
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir["i"], Opts);
        inst.CreateDatabase("a");
        var rng = new Random(5);
        Write(inst, rng, 300, 1000);
        var full = Take(inst, BackupType.Full);
        Write(inst, rng, 600, 1000);
        inst.Checkpoint();
        var summaries = inst.Summaries!;
        summaries.CatchUp(CancellationToken.None);
        // As a crash before summaries were kept would leave it: the generation gone, its summary never written.
        uint lost = full.GenLow + 1;
        File.Delete(summaries.PathOf(lost));
        File.Move(LogFiles.PathOf(inst.LogDirectory, lost), Path.Combine(dir.Path, "moved.log"));
        var set = Take(inst, BackupType.Incremental, full.GenLow);
        Assert.Contains($"generation {lost}", set.Problems["a"]);
        Assert.True(set.Images.ContainsKey("a"), "no whole image in place of the changed pages");
    }
}

/// <summary>Parts of a database image read at once (what a backup program's parallel streams ask for): the parts put
/// together are the whole image byte for byte, the image counts as read only once they cover it, and a part that is not
/// whole pages is refused.</summary>
public class ImageRangeTests
{
    [Fact(Timeout = 60_000)]
    public async Task Parts_read_at_once_are_the_whole_image_and_count_as_read_only_when_they_cover_it()
    {
        await Task.Yield();
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir["i"], Small.Options);
        var a = inst.CreateDatabase("a");
        for (int i = 0; i < 20; i++)
        {
            using var tx = inst.BeginWrite();
            for (int k = 0; k < 50; k++)
            {
                tx.Put(a, "t", B($"k{i:D3}{k:D3}"), new byte[700]);
            }
            tx.Commit(CommitMode.Durable);
        }
        inst.Checkpoint();
        var b = inst.BeginBackup(BackupType.Copy);
        byte[] whole;
        using (var s = b.OpenDatabaseImage("a"))
        {
            whole = new byte[s.Length];
            s.ReadExactly(whole);
        }
        b.Abort();

        b = inst.BeginBackup(BackupType.Copy);
        int ps = a.PageSize;
        long total = whole.Length, half = total / ps / 2 * ps;
        Assert.Throws<BackupSequenceException>(() => b.OpenDatabaseImage("a", 100, ps));
        Assert.Throws<BackupSequenceException>(() => b.OpenDatabaseImage("a", 0, total + ps));
        var second = b.OpenDatabaseImage("a", half, total - half);
        var first = b.OpenDatabaseImage("a", 0, half); // both at once
        var glued = new byte[total];
        second.ReadExactly(glued.AsSpan((int)half));
        var ex = Assert.Throws<BackupSequenceException>(() => b.ListLogs());
        Assert.Contains("still open", ex.Message, StringComparison.Ordinal);
        first.ReadExactly(glued.AsSpan(0, (int)half));
        first.Dispose();
        second.Dispose();
        // The header pages and the trailer name each backup; every page between is the same.
        Assert.Equal(whole.AsSpan(2 * ps, whole.Length - 3 * ps).ToArray(), glued.AsSpan(2 * ps, whole.Length - 3 * ps).ToArray());
        Assert.NotEmpty(b.ListLogs()); // covered: the image counts as read
        b.Abort();

        b = inst.BeginBackup(BackupType.Copy);
        using (var part = b.OpenDatabaseImage("a", 0, half))
        {
            part.CopyTo(Stream.Null);
        }
        ex = Assert.Throws<BackupSequenceException>(() => b.ListLogs());
        Assert.Contains("not read in full", ex.Message, StringComparison.Ordinal);
        b.Abort();
    }
}
