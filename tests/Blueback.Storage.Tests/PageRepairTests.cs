using Blueback.Storage.Diagnostics;
using Blueback.Storage.Format;
using Blueback.Storage.Repair;
using static Blueback.Storage.Tests.Small;

namespace Blueback.Storage.Tests;

/// <summary>The engine's page repair hook (docs/engine.md, "Pages that repair themselves"): a page that fails its
/// checksum in a read is fetched from the source, rolled forward through the instance's own log, written in place, and
/// the read succeeds; a source that has nothing, sends a bad image, hangs or belongs to another stream leaves the
/// error as it was, naming the page.</summary>
public class PageRepairTests
{
    private const int Keys = 300;

    /// <summary>A source serving the pages of an older copy of the database file, as a standby would, with the log
    /// position that copy was taken at.</summary>
    private sealed class CopySource(string copy, Lsn appliedThrough, Signature log, Signature database) : IPageRepairSource
    {
        public List<PageRepairReport> Reports { get; } = [];
        public Func<CancellationToken, byte[]?, byte[]?> Twist { get; init; } = (_, d) => d;
        public Signature Log { get; init; } = log;
        public string Name => "the test's copy";

        public PageRepairImage? Fetch(PageRepairRequest request, CancellationToken cancellationToken)
        {
            var data = new byte[request.PageSize];
            using (var f = File.OpenRead(copy))
            {
                f.Position = (long)request.Page * request.PageSize;
                f.ReadExactly(data);
            }
            var twisted = Twist(cancellationToken, data);
            return twisted is null ? null : new PageRepairImage(twisted, appliedThrough, Log, database);
        }

        public void Report(PageRepairReport report) => Reports.Add(report);
    }

    /// <summary>An instance with keys written, a copy of its database file then (the source), the same keys changed
    /// after, closed; the pages changed since the copy are damaged on disk. Returns the copy, where it stood, and the
    /// damaged pages.</summary>
    private static (string Copy, Lsn At, Signature Log, Signature Db, List<uint> Damaged) Prepare(TempDir dir)
    {
        var path = dir["inst"];
        string copy = Path.Combine(dir.Path, "copy.bdb");
        Lsn at;
        Signature log, db;
        using (var inst = StorageInstance.Create(path, Options))
        {
            var a = inst.CreateDatabase("a");
            Write(inst, a, "v1");
            inst.Checkpoint();
            at = inst.LogPosition;
            File.Copy(a.Path, copy);
            Write(inst, a, "v2");
            (log, db) = (inst.LogSignature, a.Signature);
        }
        var file = Path.Combine(path, "a.bdb");
        var damaged = new List<uint>();
        var before = File.ReadAllBytes(copy);
        using (var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
        {
            int pageSize = FormatConstants.DefaultPageSize;
            for (uint p = 2; (p + 1) * pageSize <= Math.Min(fs.Length, before.Length); p++)
            {
                var page = new byte[pageSize];
                fs.Position = p * pageSize;
                fs.ReadExactly(page);
                if (!page.AsSpan().SequenceEqual(before.AsSpan((int)(p * pageSize), pageSize)))
                {
                    page[pageSize / 2] ^= 0xFF;
                    fs.Position = p * pageSize;
                    fs.Write(page);
                    damaged.Add(p);
                }
            }
        }
        Assert.NotEmpty(damaged);
        Assert.False(DatabaseCheck.Checksum(file).Ok);
        return (copy, at, log, db, damaged);
    }

    private static void Write(StorageInstance inst, Database a, string version)
    {
        using var tx = inst.BeginWrite();
        for (int i = 0; i < Keys; i++)
        {
            tx.Put(a, "t", B($"k{i:D4}"), B($"{version}-{i}"));
        }
        tx.Commit(CommitMode.Durable);
    }

    private static void ReadAll(StorageInstance inst)
    {
        using var r = inst.BeginRead();
        var a = inst.GetDatabase("a");
        for (int i = 0; i < Keys; i++)
        {
            Assert.Equal($"v2-{i}", S(r.Get(a, "t", B($"k{i:D4}"))!));
        }
    }

    [Fact(Timeout = 60_000)]
    public Task A_damaged_page_is_repaired_from_an_older_image_and_the_log_since_and_the_read_succeeds() => Task.Run(() =>
    {
        using var dir = new TempDir();
        var (copy, at, log, db, damaged) = Prepare(dir);
        var source = new CopySource(copy, at, log, db);
        using (var inst = StorageInstance.Open(dir["inst"], Options with { PageRepair = source }))
        {
            ReadAll(inst);
            Assert.Equal(damaged.Count, inst.PagesRepaired);
        }
        Assert.Equal(damaged.Count, source.Reports.Count(r => r.Repaired));
        Assert.All(source.Reports, r => Assert.Contains("later change(s) replayed", r.Detail, StringComparison.Ordinal));
        Assert.Contains(source.Reports, r => System.Text.RegularExpressions.Regex.IsMatch(r.Detail, ", [1-9][0-9]* later change")); // the copy was older: the log since was replayed
        Assert.True(DatabaseCheck.Checksum(Path.Combine(dir["inst"], "a.bdb")).Ok); // written in place
        using var again = StorageInstance.Open(dir["inst"], Options);
        ReadAll(again); // without a source: the repaired pages are on disk
    });

    [Fact(Timeout = 60_000)]
    public Task Without_a_source_the_read_fails_naming_the_page() => Task.Run(() =>
    {
        using var dir = new TempDir();
        var (_, _, _, _, damaged) = Prepare(dir);
        using var inst = StorageInstance.Open(dir["inst"], Options);
        var ex = Assert.Throws<PageCorruptException>(() => ReadAll(inst));
        Assert.Contains(damaged, p => p == ex.Page);
        Assert.Equal(0, inst.PagesRepaired);
    });

    public static TheoryData<string> Failures => ["none", "bad image", "other stream", "hangs"];

    [Theory(Timeout = 60_000)]
    [MemberData(nameof(Failures))]
    public Task A_source_that_cannot_give_a_good_image_leaves_the_error_with_the_reason(string failure) => Task.Run(() =>
    {
        using var dir = new TempDir();
        var (copy, at, log, db, _) = Prepare(dir);
        var source = new CopySource(copy, at, log, db)
        {
            Log = failure == "other stream" ? Signature.New() : log,
            Twist = (ct, data) =>
            {
                switch (failure)
                {
                    case "none":
                        return null;
                    case "bad image":
                        data![100] ^= 1;
                        return data;
                    case "hangs":
                        ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(30)); // released by the repair's timeout
                        ct.ThrowIfCancellationRequested();
                        return data;
                    default:
                        return data;
                }
            },
        };
        using var inst = StorageInstance.Open(dir["inst"], Options with { PageRepair = source, PageRepairTimeout = TimeSpan.FromMilliseconds(300) });
        var ex = Assert.Throws<PageCorruptException>(() => ReadAll(inst));
        Assert.Contains("repair from the test's copy failed", ex.Message, StringComparison.Ordinal);
        Assert.Contains(failure switch { "none" => "holds no image", "bad image" => "failed its own checksum", "other stream" => "another copy", _ => "did not answer within" }, ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, inst.PagesRepaired);
        Assert.Contains(source.Reports, r => !r.Repaired && r.Page == ex.Page);
    });
}
