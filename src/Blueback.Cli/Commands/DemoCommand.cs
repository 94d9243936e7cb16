using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Blueback.Storage;
using Blueback.Storage.Diagnostics;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback demo</c>: the whole story on an embedded default. For now the engine's part: the default
/// instances under concurrent durable writers, a crash, soft recovery, and offline verification.</summary>
internal static class DemoCommand
{
    public static Command Build()
    {
        var data = new Option<DirectoryInfo?>("--data") { Description = "Directory to create the demo instances in (default: a new temporary directory)." };
        var seconds = new Option<double>("--seconds") { Description = "How long the writers run.", DefaultValueFactory = _ => 3 };
        var writers = new Option<int>("--writers") { Description = "Concurrent writers.", DefaultValueFactory = _ => 16 };
        var cmd = new Command("demo", "Run the embedded default end to end: write under load, crash, recover, verify.") { data, seconds, writers };
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            try
            {
                return await RunAsync(pr.GetValue(data)?.FullName, pr.GetValue(seconds), pr.GetValue(writers), signals.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("blueback demo: cancelled.");
                return Output.Cancelled;
            }
            catch (StorageException ex)
            {
                Console.Error.WriteLine($"blueback demo: {ex.Message}");
                return Output.Failed;
            }
        });
        return cmd;
    }

    private static async Task<int> RunAsync(string? data, double seconds, int writers, CancellationToken ct)
    {
        data ??= Path.Combine(Path.GetTempPath(), $"blueback-demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        if (Directory.Exists(data) && Directory.EnumerateFileSystemEntries(data).Any())
        {
            Console.Error.WriteLine($"blueback demo: '{data}' is not empty; give an empty or new directory with --data.");
            return Output.Failed;
        }
        Console.WriteLine($"Blueback demo in {data}");
        var storePath = Path.Combine(data, "store");
        var directoryPath = Path.Combine(data, "directory");

        // 1. The default instances, as the server creates them on first start.
        var store = StorageInstance.Create(storePath);
        var mailbox = store.CreateDatabase("mailbox");
        var pub = store.CreateDatabase("public");
        var dirInst = StorageInstance.Create(directoryPath);
        var directory = dirInst.CreateDatabase("directory");
        Console.WriteLine("1. Created instance 'store' (databases mailbox, public) and instance 'directory' (database directory).");

        // 2. Concurrent writers, each commit durable and acknowledged only after its log flush.
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<(int Writer, int Seq)>();
        var sw = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(TimeSpan.FromSeconds(seconds));
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (int seq = 0; !stop.IsCancellationRequested; seq++)
            {
                using var tx = await store.BeginWriteAsync(ct).ConfigureAwait(false);
                var key = Encoding.UTF8.GetBytes($"w{w:D2}-{seq:D7}");
                tx.Put(mailbox, "messages", key, Encoding.UTF8.GetBytes($"message {seq} from writer {w}: " + new string('m', 100)));
                tx.Put(pub, "index", key, BitConverter.GetBytes(seq));
                await tx.CommitAsync(CommitMode.Durable, ct).ConfigureAwait(false);
                acknowledged.Add((w, seq));
            }
        }, ct)).ToList();
        using (var tx = dirInst.BeginWrite(ct))
        {
            tx.Put(directory, "users", "alice"u8, "Alice, mailbox store/mailbox"u8);
            tx.Put(directory, "users", "bob"u8, "Bob, mailbox store/mailbox"u8);
            tx.Commit();
        }
        await Task.WhenAll(tasks).ConfigureAwait(false);
        double elapsed = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"2. {writers} writers committed {acknowledged.Count:N0} durable transactions in {elapsed:0.0} s ({acknowledged.Count / elapsed:N0}/s) using {store.LogFlushes:N0} log flushes (group commit: {(double)acknowledged.Count / Math.Max(1, store.LogFlushes):0.0} commits per flush).");

        // 3. A crash: stop without writing pages back or marking anything clean.
        store.Abandon();
        dirInst.Abandon();
        Console.WriteLine("3. Crashed both instances (no clean shutdown; dirty pages never written).");

        // 4. Soft recovery on open.
        store = StorageInstance.Open(storePath);
        dirInst = StorageInstance.Open(directoryPath);
        var rep = store.LastRecovery!;
        Console.WriteLine($"4. Reopened: recovery replayed {rep.TransactionsReplayed:N0} transactions ({rep.PagesApplied:N0} page records) from {rep.From} to {rep.To}.");

        // 5. Every acknowledged commit is there.
        mailbox = store.GetDatabase("mailbox");
        pub = store.GetDatabase("public");
        int missing = 0;
        using (var r = store.BeginRead())
        {
            foreach (var (w, seq) in acknowledged)
            {
                var key = Encoding.UTF8.GetBytes($"w{w:D2}-{seq:D7}");
                if (r.Get(mailbox, "messages", key) is null || r.Get(pub, "index", key) is null)
                {
                    missing++;
                }
            }
        }
        Console.WriteLine(missing == 0
            ? $"5. All {acknowledged.Count:N0} acknowledged transactions are present after recovery."
            : $"5. FAILED: {missing} acknowledged transactions are missing after recovery.");
        store.Close();
        dirInst.Close();

        // 6. Offline verification, as an operator would run it.
        int bad = 0;
        foreach (var file in new[] { Path.Combine(storePath, "mailbox.bdb"), Path.Combine(storePath, "public.bdb"), Path.Combine(directoryPath, "directory.bdb") })
        {
            var c = DatabaseCheck.Checksum(file, cancellationToken: ct);
            bad += c.Bad.Count;
            Console.WriteLine($"6. db checksum {Path.GetRelativePath(data, file)}: {c.Good:N0} good pages, {c.Bad.Count} bad.");
        }
        foreach (var dir in new[] { storePath, directoryPath })
        {
            var l = LogCheck.Verify(Path.Combine(dir, StorageInstance.LogDirectoryName), ct);
            if (!l.Ok)
            {
                bad++;
            }
            Console.WriteLine($"6. db logs {Path.GetRelativePath(data, dir)}: {l.Generations.Count} generations, {(l.Ok ? "intact and contiguous" : "PROBLEMS")}.");
        }
        bool ok = missing == 0 && bad == 0;
        Console.WriteLine(ok ? "Demo finished: everything verified." : "Demo FAILED (see above).");
        return ok ? Output.Ok : Output.ProblemFound;
    }
}
