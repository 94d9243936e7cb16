using System.Text;
using Blueback.Protocol;
using Blueback.Protocol.Wire;
using Blueback.Server.Loads;
using Blueback.Storage;

namespace Blueback.Server.Tests;

/// <summary>A staged load against a real instance: rows checked before they are staged (a post with one bad row stages
/// nothing), bounded by what one transaction holds, read back whole, and applied in one transaction that replaces
/// exactly its scope or refuses an existing table.</summary>
public class LoadTests
{
    private static byte[] Rows(params (string Table, string Key, string Value)[] rows)
    {
        var w = new System.Buffers.ArrayBufferWriter<byte>();
        foreach (var (t, k, v) in rows)
        {
            RowFrames.Write(w, t, Encoding.UTF8.GetBytes(k), Encoding.UTF8.GetBytes(v));
        }
        return w.WrittenSpan.ToArray();
    }

    private static HostedLoad NewLoad(TempDir dir, BeginLoadRequest req, long maxBytes = 1 << 20) =>
        new(Guid.NewGuid().ToString("N"), "store", req, dir[Guid.NewGuid().ToString("N") + ".rows"], maxBytes, TimeSpan.FromMinutes(1));

    private static Dictionary<string, string> Table(StorageInstance inst, string table)
    {
        using var r = inst.BeginRead();
        return r.Scan(inst.GetDatabase("db"), table).ToDictionary(kv => Encoding.UTF8.GetString(kv.Key), kv => Encoding.UTF8.GetString(kv.Value));
    }

    [Theory]
    [InlineData("restore-load-begin")]
    [InlineData("restore-load-get")]
    [InlineData("restore-load-rows")]
    [InlineData("restore-load-commit")]
    [InlineData("restore-load-abort")]
    public void Every_load_route_needs_the_restore_role(string route)
    {
        Assert.True(Security.Authentication.NeedsToken(route, out var role));
        Assert.Equal(Security.Role.Restore, role);
    }

    [Fact]
    public async Task Rows_outside_the_range_or_table_or_cut_short_are_refused_and_stage_nothing()
    {
        using var dir = new TempDir();
        using var load = NewLoad(dir, new BeginLoadRequest { Mode = "replace", Database = "db", Table = "t", From = "b"u8.ToArray(), To = "d"u8.ToArray() });
        await load.AppendAsync(Rows(("t", "b", "1"), ("t", "c", "2")), CancellationToken.None);
        Assert.Equal(2, load.Rows);

        var outside = await Assert.ThrowsAsync<LoadRowsException>(() => load.AppendAsync(Rows(("t", "c1", "x"), ("t", "d", "x")), CancellationToken.None));
        Assert.Contains("outside the load's range", outside.Message, StringComparison.Ordinal);
        var otherTable = await Assert.ThrowsAsync<LoadRowsException>(() => load.AppendAsync(Rows(("u", "c", "x")), CancellationToken.None));
        Assert.Contains("names table 'u'", otherTable.Message, StringComparison.Ordinal);
        var whole = Rows(("t", "c2", "xyz"));
        var cut = await Assert.ThrowsAsync<LoadRowsException>(() => load.AppendAsync(whole.AsMemory(0, whole.Length - 1), CancellationToken.None));
        Assert.Contains("ends inside row", cut.Message, StringComparison.Ordinal);

        Assert.Equal(2, load.Rows); // none of the refused posts' rows
        await load.BeginCommitAsync(CancellationToken.None);
        Assert.Equal(["b", "c"], load.StagedRows().Select(r => Encoding.UTF8.GetString(r.Key)));
        load.EndCommit(null);
        Assert.True(load.IsFinished);
        await Assert.ThrowsAsync<LoadStateException>(() => load.AppendAsync(Rows(("t", "c", "x")), CancellationToken.None));
    }

    [Fact]
    public async Task A_load_beyond_what_one_transaction_holds_is_refused_and_a_value_of_a_mebibyte_reads_back_whole()
    {
        using var dir = new TempDir();
        using var load = NewLoad(dir, new BeginLoadRequest { Mode = "replace", Database = "db", Table = "t" }, maxBytes: 3 << 20);
        var big = new string('v', 1 << 20); // larger than the read-back buffer's first size
        await load.AppendAsync(Rows(("t", "a", big), ("t", "b", big)), CancellationToken.None);
        var tooMuch = await Assert.ThrowsAsync<LoadTooLargeException>(() => load.AppendAsync(Rows(("t", "c", big)), CancellationToken.None));
        Assert.Contains("a quarter of its cache", tooMuch.Message, StringComparison.Ordinal);
        await load.BeginCommitAsync(CancellationToken.None);
        var staged = load.StagedRows().ToList();
        Assert.Equal(2, staged.Count);
        Assert.All(staged, r => Assert.Equal(1 << 20, r.Value.Length));
        load.EndCommit(null);
        Assert.False(File.Exists(load.StagingPath));
    }

    [Fact]
    public async Task A_replace_makes_the_range_exactly_the_rows_and_leaves_the_rest_and_into_refuses_an_existing_table()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir["inst"]);
        var db = inst.CreateDatabase("db");
        using (var tx = inst.BeginWrite())
        {
            foreach (var k in new[] { "a", "b", "b5", "c", "d" })
            {
                tx.Put(db, "t", Encoding.UTF8.GetBytes(k), "live"u8);
            }
            tx.Put(db, "other", "x"u8, "keep"u8);
            tx.Commit();
        }
        using (var load = NewLoad(dir, new BeginLoadRequest { Mode = "replace", Database = "db", Table = "t", From = "b"u8.ToArray(), To = "d"u8.ToArray() }))
        {
            await load.AppendAsync(Rows(("t", "b", "set"), ("t", "c2", "set")), CancellationToken.None);
            var token = await load.BeginCommitAsync(CancellationToken.None);
            var r = await LoadApply.RunAsync(inst, db, load, token);
            load.EndCommit(null);
            Assert.Equal(3, r.Deleted); // b, b5, c
            Assert.Equal(2, r.Rows);
        }
        Assert.Equal(new Dictionary<string, string> { ["a"] = "live", ["b"] = "set", ["c2"] = "set", ["d"] = "live" }, Table(inst, "t"));
        Assert.Equal(new Dictionary<string, string> { ["x"] = "keep" }, Table(inst, "other"));

        using (var into = NewLoad(dir, new BeginLoadRequest { Mode = "into", Database = "db", Table = "t", Into = "other" }))
        {
            await into.AppendAsync(Rows(("t", "y", "new")), CancellationToken.None);
            var token = await into.BeginCommitAsync(CancellationToken.None);
            var refused = await Assert.ThrowsAsync<LoadStateException>(() => LoadApply.RunAsync(inst, db, into, token));
            into.EndCommit(refused.Message);
            Assert.Contains("Table 'other' already exists in database 'db'", refused.Message, StringComparison.Ordinal);
        }
        Assert.Equal(new Dictionary<string, string> { ["x"] = "keep" }, Table(inst, "other"));
        // The writer was released: the instance takes the next write.
        using (var tx = inst.BeginWrite())
        {
            tx.Put(db, "other", "z"u8, "after"u8);
            tx.Commit();
        }
    }

    [Fact]
    public async Task A_replace_of_a_whole_database_empties_every_table_the_rows_do_not_fill()
    {
        using var dir = new TempDir();
        using var inst = StorageInstance.Create(dir["inst"]);
        var db = inst.CreateDatabase("db");
        using (var tx = inst.BeginWrite())
        {
            tx.Put(db, "t", "a"u8, "live"u8);
            tx.Put(db, "other", "x"u8, "live"u8);
            tx.Commit();
        }
        using var load = NewLoad(dir, new BeginLoadRequest { Mode = "replace", Database = "db" });
        await load.AppendAsync(Rows(("t", "b", "set"), ("third", "c", "set")), CancellationToken.None);
        var token = await load.BeginCommitAsync(CancellationToken.None);
        var r = await LoadApply.RunAsync(inst, db, load, token);
        load.EndCommit(null);
        Assert.Equal(2, r.Deleted);
        Assert.Equal(new Dictionary<string, string> { ["b"] = "set" }, Table(inst, "t"));
        Assert.Empty(Table(inst, "other"));
        Assert.Equal(new Dictionary<string, string> { ["c"] = "set" }, Table(inst, "third"));
    }

    [Fact]
    public async Task An_abort_drops_the_staged_rows_and_ends_the_load()
    {
        using var dir = new TempDir();
        var load = NewLoad(dir, new BeginLoadRequest { Mode = "replace", Database = "db" });
        await load.AppendAsync(Rows(("t", "a", "1")), CancellationToken.None);
        Assert.True(File.Exists(load.StagingPath));
        load.Abort("aborted by its client");
        Assert.False(File.Exists(load.StagingPath));
        Assert.Equal("aborted", load.Info().State);
        await Assert.ThrowsAsync<LoadStateException>(() => load.BeginCommitAsync(CancellationToken.None));
        load.Dispose();
    }
}
