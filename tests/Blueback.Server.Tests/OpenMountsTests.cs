using System.Text;
using Blueback.Protocol;
using Blueback.Server.Browsing;

namespace Blueback.Server.Tests;

/// <summary>The sets the console browses, kept open between requests: each opened once however many ask at the same
/// moment, at most the bound open (the least recently used closed first), closed when idle, never under a reader, all
/// closed at dispose; and the rows shown as text or hex, cut for display.</summary>
public class OpenMountsTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromHours(1); // the sweep's own timer never fires in a test: CloseIdle is called

    private static void Unexpected(string key, Exception ex) => Assert.Fail($"closing {key} threw {ex}");

    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 7, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed class Mount(string name) : IDisposable
    {
        public string Name { get; } = name;
        public int Disposed { get; private set; }
        public void Dispose() => Disposed++;
    }

    /// <summary>Opens a mount named for its key, counting the openings.</summary>
    private sealed class Opener
    {
        public Dictionary<string, List<Mount>> Opened { get; } = [];

        public Func<CancellationToken, Task<Mount>> For(string key) => _ =>
        {
            var m = new Mount(key);
            lock (Opened)
            {
                (Opened.TryGetValue(key, out var l) ? l : Opened[key] = []).Add(m);
            }
            return Task.FromResult(m);
        };

        public Mount Only(string key) => Assert.Single(Opened[key]);
    }

    private static async Task UseAsync(OpenMounts<string, Mount> mounts, Opener opener, string key)
    {
        using var lease = await mounts.AcquireAsync(key, opener.For(key), CancellationToken.None);
        Assert.Equal(key, lease.Value.Name);
    }

    [Fact(Timeout = 10_000)]
    public async Task A_set_asked_for_by_many_at_once_is_opened_once()
    {
        using var mounts = new OpenMounts<string, Mount>(2, Idle, new Clock(), Unexpected);
        var gate = new TaskCompletionSource<Mount>(TaskCreationOptions.RunContinuationsAsynchronously);
        int opens = 0;
        Task<Mount> Open(CancellationToken _)
        {
            Interlocked.Increment(ref opens);
            return gate.Task;
        }
        var waiters = Enumerable.Range(0, 5).Select(_ => mounts.AcquireAsync("a", Open, CancellationToken.None)).ToList();
        var mount = new Mount("a");
        gate.SetResult(mount);
        var leases = await Task.WhenAll(waiters);
        Assert.Equal(1, opens);
        Assert.All(leases, l => Assert.Same(mount, l.Value));
        foreach (var l in leases)
        {
            l.Dispose();
        }
        Assert.Equal(0, mount.Disposed);
        Assert.Equal(1, mounts.Count);
    }

    [Fact(Timeout = 10_000)]
    public async Task Past_the_bound_the_least_recently_used_set_is_closed()
    {
        var clock = new Clock();
        var opener = new Opener();
        using var mounts = new OpenMounts<string, Mount>(2, Idle, clock, Unexpected);
        await UseAsync(mounts, opener, "a");
        clock.Now += TimeSpan.FromSeconds(1);
        await UseAsync(mounts, opener, "b");
        clock.Now += TimeSpan.FromSeconds(1);
        await UseAsync(mounts, opener, "a"); // a is now the more recently used
        clock.Now += TimeSpan.FromSeconds(1);
        await UseAsync(mounts, opener, "c");
        Assert.Equal(1, opener.Only("b").Disposed);
        Assert.Equal(0, opener.Only("a").Disposed);
        Assert.Equal(0, opener.Only("c").Disposed);
        Assert.Equal(2, mounts.Count);
        Assert.False(mounts.Holds("b"));
        clock.Now += TimeSpan.FromSeconds(1);
        await UseAsync(mounts, opener, "b"); // opened again, a closed
        Assert.Equal(2, opener.Opened["b"].Count);
        Assert.Equal(1, opener.Only("a").Disposed);
    }

    [Fact(Timeout = 10_000)]
    public async Task A_set_being_read_closes_only_when_its_reader_is_done()
    {
        var opener = new Opener();
        using var mounts = new OpenMounts<string, Mount>(1, Idle, new Clock(), Unexpected);
        var reading = await mounts.AcquireAsync("a", opener.For("a"), CancellationToken.None);
        await UseAsync(mounts, opener, "b"); // over the bound: a retired, but still read
        Assert.Equal(0, opener.Only("a").Disposed);
        reading.Dispose();
        Assert.Equal(1, opener.Only("a").Disposed);
        reading.Dispose(); // a second dispose of the lease changes nothing
        Assert.Equal(1, opener.Only("a").Disposed);
        Assert.Equal(0, opener.Only("b").Disposed);
    }

    [Fact(Timeout = 10_000)]
    public async Task A_set_unused_for_the_idle_time_is_closed_and_one_in_use_is_not()
    {
        var clock = new Clock();
        var opener = new Opener();
        using var mounts = new OpenMounts<string, Mount>(2, TimeSpan.FromMinutes(2), clock, Unexpected);
        await UseAsync(mounts, opener, "a");
        var reading = await mounts.AcquireAsync("b", opener.For("b"), CancellationToken.None);
        clock.Now += TimeSpan.FromSeconds(119);
        Assert.Equal(0, mounts.CloseIdle());
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Equal(1, mounts.CloseIdle());
        Assert.Equal(1, opener.Only("a").Disposed);
        Assert.Equal(0, opener.Only("b").Disposed); // leased: not idle however long
        reading.Dispose();
        clock.Now += TimeSpan.FromSeconds(119);
        Assert.Equal(0, mounts.CloseIdle()); // its idle time counts from the end of its last read
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Equal(1, mounts.CloseIdle());
        Assert.Equal(1, opener.Only("b").Disposed);
        Assert.Equal(0, mounts.Count);
    }

    [Fact(Timeout = 10_000)]
    public async Task An_opening_that_fails_is_not_kept_and_the_next_request_tries_again()
    {
        var opener = new Opener();
        using var mounts = new OpenMounts<string, Mount>(2, Idle, new Clock(), Unexpected);
        var ex = await Assert.ThrowsAsync<IOException>(() => mounts.AcquireAsync("a", _ => Task.FromException<Mount>(new IOException("chunk x is damaged")), CancellationToken.None));
        Assert.Equal("chunk x is damaged", ex.Message);
        Assert.Equal(0, mounts.Count);
        await UseAsync(mounts, opener, "a");
        Assert.Equal(0, opener.Only("a").Disposed);
    }

    [Fact(Timeout = 10_000)]
    public async Task An_opening_that_failed_after_every_waiter_gave_up_is_tried_again()
    {
        var opener = new Opener();
        using var mounts = new OpenMounts<string, Mount>(2, Idle, new Clock(), Unexpected);
        var gate = new TaskCompletionSource<Mount>(); // continuations inline: the opening has failed once SetException returns
        using var impatient = new CancellationTokenSource();
        var gaveUp = mounts.AcquireAsync("a", _ => gate.Task, impatient.Token);
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp);
        gate.SetException(new IOException("the repository was unreachable"));
        await UseAsync(mounts, opener, "a");
        Assert.Equal(0, opener.Only("a").Disposed);
    }

    [Fact(Timeout = 10_000)]
    public async Task A_close_that_throws_is_reported_not_thrown()
    {
        var failed = new List<string>();
        var clock = new Clock();
        using var mounts = new OpenMounts<string, ThrowingMount>(2, TimeSpan.FromMinutes(2), clock, (key, ex) => failed.Add($"{key}: {ex.Message}"));
        using (await mounts.AcquireAsync("a", _ => Task.FromResult(new ThrowingMount()), CancellationToken.None))
        {
        }
        clock.Now += TimeSpan.FromMinutes(2);
        Assert.Equal(1, mounts.CloseIdle());
        Assert.Equal(["a: the instance would not close"], failed);
    }

    private sealed class ThrowingMount : IDisposable
    {
        public void Dispose() => throw new IOException("the instance would not close");
    }

    [Fact(Timeout = 10_000)]
    public async Task A_waiter_that_gives_up_leaves_the_opening_to_the_others()
    {
        using var mounts = new OpenMounts<string, Mount>(2, Idle, new Clock(), Unexpected);
        var gate = new TaskCompletionSource<Mount>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var impatient = new CancellationTokenSource();
        var first = mounts.AcquireAsync("a", _ => gate.Task, impatient.Token);
        var second = mounts.AcquireAsync("a", _ => gate.Task, CancellationToken.None);
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        var mount = new Mount("a");
        gate.SetResult(mount);
        using var lease = await second;
        Assert.Same(mount, lease.Value);
        Assert.Equal(0, mount.Disposed);
    }

    [Fact(Timeout = 10_000)]
    public async Task Retiring_by_key_closes_those_sets_and_dispose_closes_the_rest_read_or_not()
    {
        var opener = new Opener();
        var mounts = new OpenMounts<string, Mount>(3, Idle, new Clock(), Unexpected);
        await UseAsync(mounts, opener, "p1/a");
        await UseAsync(mounts, opener, "p1/b");
        var reading = await mounts.AcquireAsync("p2/a", opener.For("p2/a"), CancellationToken.None);
        mounts.Retire(k => k.StartsWith("p1/", StringComparison.Ordinal));
        Assert.Equal(1, opener.Only("p1/a").Disposed);
        Assert.Equal(1, opener.Only("p1/b").Disposed);
        Assert.Equal(0, opener.Only("p2/a").Disposed);
        mounts.Dispose();
        Assert.Equal(1, opener.Only("p2/a").Disposed);
        reading.Dispose();
        Assert.Equal(1, opener.Only("p2/a").Disposed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => mounts.AcquireAsync("x", opener.For("x"), CancellationToken.None));
    }

    [Fact]
    public void A_text_value_is_shown_as_text_cut_before_a_character_and_a_binary_one_as_hex()
    {
        var small = BrowseEndpoints.Row("k1"u8.ToArray(), "hello"u8.ToArray());
        Assert.Equal(("k1", null, "hello", "utf8", 5, false), (small.Key, small.KeyBase64, small.Value, small.Encoding, small.Bytes, small.Truncated));

        // 255 ASCII bytes then a 3-byte character across the cut at 256: the character is left out whole.
        var text = Encoding.UTF8.GetBytes(new string('a', 255) + "€" + "tail");
        var cut = BrowseEndpoints.Row("k"u8.ToArray(), text);
        Assert.Equal(new string('a', 255), cut.Value);
        Assert.True(cut.Truncated);
        Assert.Equal(text.Length, cut.Bytes);

        byte[] binary = [0xff, 0x00, 0x10, .. new byte[300]];
        var hex = BrowseEndpoints.Row([0xc3, 0x28], binary);
        Assert.Equal("hex", hex.Encoding);
        Assert.StartsWith("ff0010", hex.Value, StringComparison.Ordinal);
        Assert.Equal(2 * BrowseRow.MaxShownBytes, hex.Value.Length);
        Assert.True(hex.Truncated);
        Assert.Equal(Convert.ToBase64String(new byte[] { 0xc3, 0x28 }), hex.KeyBase64);
    }
}
