using System.Buffers.Binary;
using System.Text;
using Blueback.Storage;

// A child process for crash tests: commits transactions as fast as it can and prints "ACK <id>" for each one
// only after its durable commit returned. The test kills it with SIGKILL at a random moment.
// Every transaction: writes its marker in two databases (markers are never deleted), and moves money between two accounts (the total stays
// constant), so a half-applied transaction is visible as a marker in one database only or a wrong total.
// Usage: CrashWorker DIR RUN SEED
if (args.Length == 2 && args[0] == "backup-reader")
{
    // A backup program that is killed mid-stream: begin a full backup, read part of the first image, then wait.
    using var client = new Blueback.Client.BluebackClient(args[1]);
    var session = await client.BeginBackupAsync("store", "full").ConfigureAwait(false);
    var image = await session.OpenDatabaseImageAsync(session.Databases[0].Name).ConfigureAwait(false);
    var buffer = new byte[64 * 1024];
    _ = await image.ReadAsync(buffer).ConfigureAwait(false);
    Console.Out.WriteLine($"READING {session.Id}");
    Console.Out.Flush();
    await Task.Delay(TimeSpan.FromMinutes(10)).ConfigureAwait(false);
    return 0;
}
if (args.Length == 2 && args[0] == "backup-full")
{
    // A whole full backup from wherever this process runs (another network namespace, say), data discarded.
    using var client = new Blueback.Client.BluebackClient(args[1]);
    await using var session = await client.BeginBackupAsync("store", "full").ConfigureAwait(false);
    long bytes = 0;
    foreach (var db in session.Databases)
    {
        await using var image = await session.OpenDatabaseImageAsync(db.Name).ConfigureAwait(false);
        bytes += await CountAsync(image).ConfigureAwait(false);
    }
    var logs = await session.ListLogsAsync().ConfigureAwait(false);
    foreach (var g in logs.Generations)
    {
        await using var log = await session.OpenLogAsync(g.Generation).ConfigureAwait(false);
        bytes += await CountAsync(log).ConfigureAwait(false);
    }
    await session.EndAsync().ConfigureAwait(false);
    Console.Out.WriteLine($"OK {bytes}");
    return 0;
}
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: CrashWorker DIR RUN SEED");
    return 2;
}
var dir = args[0];
int run = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
var rng = new Random(int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture));
var options = new InstanceOptions { LogGenerationSize = 256 << 10, CacheSize = 8L << 20, CheckpointLogBytes = 2 << 20 };
using var inst = StorageInstance.OpenOrCreate(dir, options);
var a = inst.TryGetDatabase("a") ?? inst.CreateDatabase("a");
var b = inst.TryGetDatabase("b") ?? inst.CreateDatabase("b", 4096);
const int Accounts = 10;
using (var tx = inst.BeginWrite())
{
    if (tx.Get(a, "bank", "acct-0"u8) is null)
    {
        for (int i = 0; i < Accounts; i++)
        {
            tx.Put(a, "bank", Encoding.UTF8.GetBytes($"acct-{i}"), BitConverter.GetBytes(1000L));
        }
        tx.Commit();
    }
}
Console.Out.WriteLine("READY");
Console.Out.Flush();
var stdout = Console.Out;
var gate = new Lock();
int next = 0;
var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
{
    var local = new Random(rng.Next());
    while (true)
    {
        int id = (run * 1_000_000) + Interlocked.Increment(ref next);
        using var tx = await inst.BeginWriteAsync().ConfigureAwait(false);
        var marker = Encoding.UTF8.GetBytes($"t{id:D9}");
        int size = local.Next(100) < 5 ? local.Next(10_000, 100_000) : local.Next(10, 300);
        var value = new byte[size];
        local.NextBytes(value);
        BinaryPrimitives.WriteInt32LittleEndian(value, id);
        tx.Put(a, "markers", marker, value);
        tx.Put(b, "markers", marker, value.AsSpan(0, Math.Min(64, value.Length)));
        int from = local.Next(Accounts), to = local.Next(Accounts);
        long amount = local.Next(1, 50);
        var fk = Encoding.UTF8.GetBytes($"acct-{from}");
        var tk = Encoding.UTF8.GetBytes($"acct-{to}");
        tx.Put(a, "bank", fk, BitConverter.GetBytes(BitConverter.ToInt64(tx.Get(a, "bank", fk)) - amount));
        tx.Put(a, "bank", tk, BitConverter.GetBytes(BitConverter.ToInt64(tx.Get(a, "bank", tk)) + amount));
        // Scratch rows come and go in both databases, so recovery also replays deletes and page merges.
        tx.Put(a, "scratch", marker, value.AsSpan(0, Math.Min(200, value.Length)));
        tx.Put(b, "scratch", marker, value.AsSpan(0, Math.Min(200, value.Length)));
        var old = tx.Scan(a, "scratch", null, null, false, local.Next(3));
        foreach (var kv in old)
        {
            tx.Delete(a, "scratch", kv.Key);
            tx.Delete(b, "scratch", kv.Key);
        }
        await tx.CommitAsync(CommitMode.Durable).ConfigureAwait(false);
        lock (gate)
        {
            stdout.WriteLine($"ACK {id}");
            stdout.Flush();
        }
    }
})).ToArray();
await Task.WhenAll(workers).ConfigureAwait(false);
return 0;

static async Task<long> CountAsync(Stream s)
{
    var buffer = new byte[1 << 20];
    long total = 0;
    int n;
    while ((n = await s.ReadAsync(buffer).ConfigureAwait(false)) > 0)
    {
        total += n;
    }
    return total;
}
