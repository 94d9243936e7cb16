using Blueback.IO;

namespace Blueback.Storage.Tests;

/// <summary>The power-cut layer itself (Blueback.IO/PowerCut.cs): what a cut keeps and drops, file by file and
/// directory by directory, so that the engine's cut runs (<see cref="PowerCutEngineTests"/>) can be believed.</summary>
public class PowerCutTests
{
    private static void Write(string path, byte[] bytes, bool sync)
    {
        using var h = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite);
        RandomAccess.Write(h, bytes, 0);
        if (sync)
        {
            FileSystem.DataSync(h, path);
        }
    }

    private static byte[] Fill(int length, byte b) => Enumerable.Repeat(b, length).ToArray();

    [Fact]
    public void A_write_not_flushed_is_dropped_and_a_flushed_one_kept()
    {
        using var dir = new TempDir("cut");
        var root = Directory.CreateDirectory(dir["root"]).FullName;
        File.WriteAllBytes(Path.Combine(root, "old"), Fill(8192, 1)); // before the layer: durable
        using var layer = new PowerCut(root);
        Write(Path.Combine(root, "old"), Fill(8192, 2), sync: false);
        Write(Path.Combine(root, "synced"), Fill(4096, 3), sync: true);
        FileSystem.SyncDirectory(root);
        Write(Path.Combine(root, "synced"), Fill(4096, 4), sync: false);

        layer.Cut(dir["cut"], new Random(1));
        Assert.Equal(Fill(8192, 1), File.ReadAllBytes(Path.Combine(dir["cut"], "old")));
        Assert.Equal(Fill(4096, 3), File.ReadAllBytes(Path.Combine(dir["cut"], "synced")));
    }

    [Fact]
    public void A_create_or_rename_whose_directory_was_not_flushed_is_undone()
    {
        using var dir = new TempDir("cut");
        var root = Directory.CreateDirectory(dir["root"]).FullName;
        File.WriteAllBytes(Path.Combine(root, "config"), Fill(100, 1));
        using var layer = new PowerCut(root);
        // A new file, flushed, its directory not: gone after the cut.
        Write(Path.Combine(root, "new"), Fill(100, 2), sync: true);
        // An atomic replace whose rename was not flushed: the old bytes under the old name.
        Write(Path.Combine(root, "config.tmp"), Fill(100, 3), sync: true);
        File.Move(Path.Combine(root, "config.tmp"), Path.Combine(root, "config"), overwrite: true);
        // A delete not flushed: the file is still there.
        layer.Cut(dir["cut1"], new Random(1));
        Assert.False(File.Exists(Path.Combine(dir["cut1"], "new")));
        Assert.Equal(Fill(100, 1), File.ReadAllBytes(Path.Combine(dir["cut1"], "config")));
        Assert.False(File.Exists(Path.Combine(dir["cut1"], "config.tmp")));

        FileSystem.SyncDirectory(root);
        File.Delete(Path.Combine(root, "new"));
        layer.Cut(dir["cut2"], new Random(1));
        Assert.Equal(Fill(100, 2), File.ReadAllBytes(Path.Combine(dir["cut2"], "new")));
        Assert.Equal(Fill(100, 3), File.ReadAllBytes(Path.Combine(dir["cut2"], "config")));
    }

    [Fact]
    public void Unflushed_pages_are_kept_or_dropped_one_by_one_when_asked_a_torn_write()
    {
        using var dir = new TempDir("cut");
        var root = Directory.CreateDirectory(dir["root"]).FullName;
        File.WriteAllBytes(Path.Combine(root, "f"), Fill(64 * 4096, 1));
        using var layer = new PowerCut(root);
        Write(Path.Combine(root, "f"), Fill(64 * 4096, 2), sync: false);
        var report = layer.Cut(dir["cut"], new Random(5), keepUnsynced: 0.5);
        var bytes = File.ReadAllBytes(Path.Combine(dir["cut"], "f"));
        var pages = Enumerable.Range(0, 64).Select(p => bytes[p * 4096]).ToList();
        Assert.Contains((byte)1, pages);
        Assert.Contains((byte)2, pages);
        for (int p = 0; p < 64; p++)
        {
            Assert.True(bytes.AsSpan(p * 4096, 4096).IndexOfAnyExcept(pages[p]) < 0, $"page {p} is not whole: 4 KiB is the unit");
        }
        Assert.Equal(1, report.TornFiles);
        Assert.Equal(64, report.PagesKept + report.PagesDropped);
    }

    [Fact]
    public void Flushes_outside_the_layers_root_are_not_observed()
    {
        using var dir = new TempDir("cut");
        var root = Directory.CreateDirectory(dir["root"]).FullName;
        using var layer = new PowerCut(root);
        Write(dir["outside"], Fill(10, 1), sync: true);
        FileSystem.SyncDirectory(dir.Path);
        Assert.Equal(0, layer.FileSyncs + layer.DirectorySyncs);
    }

    /// <summary>Two flushes of one directory, and of one file, that overlap: the one that began first returns last.
    /// What it read is older than what the other read, and must not replace it (the engine's 300-cut run lost a
    /// commit once this way).</summary>
    [Fact]
    public void Of_two_overlapping_flushes_the_later_snapshot_stands_whichever_returns_last()
    {
        using var dir = new TempDir("cut");
        var root = Directory.CreateDirectory(dir["root"]).FullName;
        var f = Path.Combine(root, "f");
        File.WriteAllBytes(f, Fill(4096, 1));
        using var layer = new PowerCut(root);

        var olderListing = layer.BeforeDirectorySync(root)!;
        Write(Path.Combine(root, "new"), Fill(100, 2), sync: true);
        var newerListing = layer.BeforeDirectorySync(root)!;
        newerListing();
        olderListing();

        using (var h = File.OpenHandle(f, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.Write(h, Fill(4096, 3), 0);
            var olderBytes = layer.BeforeFileSync(h)!;
            RandomAccess.Write(h, Fill(4096, 4), 0);
            var newerBytes = layer.BeforeFileSync(h)!;
            newerBytes();
            olderBytes();
        }

        layer.Cut(dir["cut"], new Random(1));
        Assert.Equal(Fill(100, 2), File.ReadAllBytes(Path.Combine(dir["cut"], "new")));
        Assert.Equal(Fill(4096, 4), File.ReadAllBytes(Path.Combine(dir["cut"], "f")));
        Assert.Equal(2, layer.OutOfOrderSyncs);
    }
}
