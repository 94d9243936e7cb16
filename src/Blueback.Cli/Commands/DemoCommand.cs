using System.CommandLine;
using System.Diagnostics;
using Blueback.Backup;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Compression;
using Blueback.Repository.Stores;
using Blueback.Server;
using Blueback.Storage.Backup;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback demo</c>: the whole story on an embedded default, in one command: a server with the
/// default instances, writers, a full backup while they write, an incremental, a third backup stopped halfway,
/// verification of everything that was kept, and a restore compared with the live instance.</summary>
internal static class DemoCommand
{
    public static Command Build()
    {
        var data = new Option<DirectoryInfo?>("--data") { Description = "Directory for the demo (default: a new temporary directory)." };
        var seconds = new Option<double>("--seconds") { Description = "How long the writers run before the first backup.", DefaultValueFactory = _ => 3 };
        var writers = new Option<int>("--writers") { Description = "Concurrent writers.", DefaultValueFactory = _ => 8 };
        var cmd = new Command("demo", "Run the embedded default end to end: serve, write, back up (full, incremental, a cancelled one), verify, restore.") { data, seconds, writers };
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            try
            {
                return await RunAsync(pr.GetValue(data)?.FullName, pr.GetValue(seconds), Math.Max(1, pr.GetValue(writers)), signals.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (signals.Signalled)
            {
                Console.Error.WriteLine("blueback demo: cancelled.");
                return Output.Cancelled;
            }
        });
        return cmd;
    }

    /// <summary>The demo's floor for backups under load (MB/s): it shows backups that complete while writers write, in
    /// seconds, where the default floor would take minutes.</summary>
    private const int DemoFloorMBps = 25;

    private static async Task<int> RunAsync(string? root, double seconds, int writerCount, CancellationToken ct)
    {
        root ??= Path.Combine(Path.GetTempPath(), $"blueback-demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            Console.Error.WriteLine($"blueback demo: '{root}' is not empty; give an empty or new directory with --data.");
            return Output.Failed;
        }
        Directory.CreateDirectory(root);
        var socket = Path.Combine(root, "blueback.sock");
        var server = "unix:" + socket;
        Console.WriteLine($"Blueback demo in {root}");

        // 1. A server with the default instances, on a Unix socket (the same code path as TCP).
        using var stopServer = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // The demo chooses the server's admin token (as automation does with --admin-token-file) and uses it.
        var token = Server.Security.TokenStore.NewToken();
        var tokenFile = Path.Combine(root, "admin.token");
        File.WriteAllText(tokenFile, token);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        // The default instances, and backups that take at least DemoFloorMBps from the writers: a busy server's backups
        // otherwise yield to its clients down to 2 MB/s (docs/server.md), and the demo's writers never stop.
        var config = ServerConfig.Default();
        config.BackupBusyFloorMBps = DemoFloorMBps;
        var serverTask = BluebackServer.RunAsync(new ServeOptions { DataDirectory = Path.Combine(root, "data"), Listen = [], UnixSocket = socket, Quiet = true, AdminTokenFile = tokenFile, Config = config }, TextWriter.Null, stopServer.Token);
        using var client = new BluebackClient(server, TimeSpan.FromSeconds(30), token);
        await WaitHealthyAsync(client, serverTask, ct).ConfigureAwait(false);
        var status = await client.StatusAsync(ct).ConfigureAwait(false);
        Console.WriteLine($"1. Server up: {string.Join("; ", status.Instances.Select(i => $"instance {i.Name} ({string.Join(", ", i.Databases.Select(d => d.Name))})"))}; backups under load take at least {DemoFloorMBps} MB/s from the writers (the default is 2: docs/server.md).");

        // 2. Writers: atomic batches across two databases, for the whole demo.
        using var stopWriters = CancellationTokenSource.CreateLinkedTokenSource(ct);
        long batches = 0;
        var writers = Enumerable.Range(0, writerCount).Select(w => Task.Run(async () =>
        {
            var value = Convert.ToBase64String(new byte[2000]);
            for (long n = 0; !stopWriters.IsCancellationRequested; n++)
            {
                try
                {
                    await client.BatchAsync("store", new BatchRequest
                    {
                        Ops =
                        [
                            new BatchOp { Op = "put", Database = "mailbox", Table = "messages", Key = $"w{w:D2}-{n:D8}", ValueBase64 = value },
                            new BatchOp { Op = "put", Database = "public", Table = "index", Key = $"w{w:D2}", Value = n.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                        ],
                    }, stopWriters.Token).ConfigureAwait(false);
                    Interlocked.Increment(ref batches);
                }
                catch (OperationCanceledException) when (stopWriters.IsCancellationRequested)
                {
                    return;
                }
            }
        }, CancellationToken.None)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(seconds), ct).ConfigureAwait(false);
        Console.WriteLine($"2. {writerCount} writers committed {Interlocked.Read(ref batches):N0} atomic batches in {seconds:0.#} s, and keep writing.");

        // 3. A full backup and an incremental one, while the writers write.
        var repoDir = Path.Combine(root, "repository");
        var repo = await BackupRepository.InitAsync(new LocalDirectoryStore(repoDir), ct).ConfigureAwait(false);
        // Where `blueback backup` hashes and compresses by default: here, the server being on this host.
        BackupRequest Request(BackupType type) => new("store", type) { CompressOnServer = BackupRequest.CompressOnServerFor(client.Server, skipUnchanged: false) };
        var full = await BackupJob.RunAsync(client, repo, Request(BackupType.Full), null, ct).ConfigureAwait(false);
        Console.WriteLine($"3. Full backup {full.SetId}: {Mb(full.RawBytes)} ({Mb(full.StoredBytes)} stored, {full.Codec}) in {full.Seconds:0.00} s, {full.RawBytes / 1e6 / Math.Max(full.Seconds, 0.001):0} MB/s; generations {full.GenLow}-{full.GenHigh}; {full.Truncated.Count} truncated on the server.");
        await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        var inc = await BackupJob.RunAsync(client, repo, Request(BackupType.Incremental), null, ct).ConfigureAwait(false);
        Console.WriteLine($"4. Incremental backup {inc.SetId}: generations {inc.GenLow}-{inc.GenHigh}, {Mb(inc.RawBytes)} in {inc.Seconds:0.00} s.");

        // 4. A third backup stopped halfway through its first image.
        using (var stopBackup = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var sw = new Stopwatch();
            try
            {
                await BackupJob.RunAsync(client, repo, Request(BackupType.Full), new SyncProgress<BackupProgress>(p =>
                {
                    if (!stopBackup.IsCancellationRequested && p.FileDone >= p.FileSize / 2)
                    {
                        sw.Start();
                        stopBackup.Cancel();
                    }
                }), stopBackup.Token).ConfigureAwait(false);
                Console.WriteLine("5. The third backup finished before it could be stopped.");
            }
            catch (OperationCanceledException) when (stopBackup.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                var returned = sw.Elapsed;
                var clean = Stopwatch.StartNew();
                while ((await client.StatusAsync(ct).ConfigureAwait(false)).Instances.Any(i => i.BackupInProgress) && clean.Elapsed < TimeSpan.FromSeconds(5))
                {
                    await Task.Delay(5, ct).ConfigureAwait(false);
                }
                var kept = await repo.ListSetsAsync(ct).ConfigureAwait(false);
                Console.WriteLine($"5. A third backup, stopped halfway: returned {returned.TotalMilliseconds:0} ms after the stop, server free {(returned + clean.Elapsed).TotalMilliseconds:0} ms after it, partial set removed ({kept.Count} sets in the repository).");
            }
        }

        // 5. Writers stop; everything kept is verified; the server stops cleanly.
        stopWriters.Cancel();
        await Task.WhenAll(writers).ConfigureAwait(false);
        var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        int problems = 0;
        foreach (var m in sets)
        {
            var found = await SetVerification.VerifyAsync(repo, m, sets, ct).ConfigureAwait(false);
            problems += found.Count;
            Console.WriteLine($"6. verify {m.Type} set {m.SetId}: {(found.Count == 0 ? $"OK ({m.Files.Count} files, every chunk, hash and page)" : string.Join("; ", found))}");
        }
        var after = await BackupJob.RunAsync(client, repo, Request(BackupType.Incremental), null, ct).ConfigureAwait(false);
        Console.WriteLine($"7. The next backup after the stopped one: incremental {after.SetId}, generations {after.GenLow}-{after.GenHigh}. Writers committed {Interlocked.Read(ref batches):N0} batches in all, none failed.");
        stopServer.Cancel();
        await serverTask.ConfigureAwait(false);
        Console.WriteLine("8. Server stopped cleanly.");

        // 6. Restore the newest chain into a new data directory and compare it with the live instance.
        sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        var chain = RestorePlanner.Plan(sets, "latest", "store", null, liveLogsFollow: false);
        var restored = await RestoreJob.ToDirectoryAsync(repo, chain, Path.Combine(root, "restored"), "store", replace: false, new RestoreOptions(), null, ct).ConfigureAwait(false);
        var live = InstanceDigest.Of(Path.Combine(root, "data", "store"));
        var copy = InstanceDigest.Of(restored.Directory);
        bool same = live == copy;
        problems += same ? 0 : 1;
        Console.WriteLine($"9. Restored {string.Join(" + ", chain.Select(m => m.Type))} into {restored.Directory}: {Mb(restored.Bytes)} in {restored.Seconds:0.00} s, {restored.Report.TransactionsReplayed:N0} transactions replayed; "
            + (same ? $"identical to the live instance ({copy.Rows:N0} rows, every page verified)." : $"DIFFERS from the live instance: {copy} against {live}."));
        bool ok = problems == 0;
        Console.WriteLine(ok ? "Demo finished: everything verified and restored." : "Demo FAILED (see above).");
        return ok ? Output.Ok : Output.ProblemFound;
    }

    private static string Mb(long bytes) => $"{bytes / 1048576.0:0.0} MiB";

    private static async Task WaitHealthyAsync(BluebackClient client, Task server, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (server.IsCompleted)
            {
                await server.ConfigureAwait(false); // surfaces the server's start-up error
                throw new InvalidOperationException("The embedded server stopped during start-up.");
            }
            try
            {
                if (await client.IsHealthyAsync(ct).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
        throw new TimeoutException("The embedded server did not answer within 30 s.");
    }
}
