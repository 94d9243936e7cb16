using System.CommandLine;
using Blueback.Backup;
using Blueback.Backup.Mounting;
using Blueback.Protocol;
using Blueback.Repository;
using Blueback.Repository.Stores;
using Blueback.Server;
using Blueback.Storage;
using Blueback.Storage.Restore;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback mount</c>: serves a backup set read-only through the server's data routes without restoring it
/// (docs/restore.md, "Reading a set without restoring it").</summary>
internal static class MountCommand
{
    /// <summary>The chunk cache's bound unless --cache-max-bytes says otherwise.</summary>
    public const long DefaultCacheBytes = 1L << 30;

    public static Command Build()
    {
        var set = new Option<string>("--set") { Description = "The set to mount (its id, or a unique prefix), or 'latest' (with the shipped generations after it).", DefaultValueFactory = _ => "latest" };
        var instance = new Option<string?>("--instance") { Description = "The instance whose set to mount (needed when the repository holds several)." };
        var stopAt = new Option<string?>("--stop-at") { Description = "Show the instance as of this point: a time (ISO 8601, UTC unless a zone is given) or a log position GEN:OFFSET." };
        var listen = new Option<string[]>("--listen") { Description = "Address to serve on, http://IP:PORT or https://IP:PORT (repeatable; port 0 picks a free one).", DefaultValueFactory = _ => ["http://127.0.0.1:7422"] };
        var tokenFile = new Option<string?>("--token-file") { Description = "Tokens that may read the set: a server's DATA/auth/tokens.json (roles as there) or tokens one per line. Without it: a new admin token in the mount's directory, and loopback only." };
        var cache = new Option<string?>("--cache") { Description = "Directory for the mount's chunk cache and overlay (a new directory inside it, removed at exit; default: the system's temporary directory)." };
        var cacheMax = new Option<string?>("--cache-max-bytes") { Description = "Bound on the chunk cache on disk (K, M, G suffixes; at least 16M; default 1G): least recently used chunks go first." };
        var json = new Option<bool>("--json") { Description = "Print one JSON line when serving (url, set, instance, tokenFile) and one at exit (the counters)." };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain) for https:// listeners." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert." };
        var insecure = new Option<bool>("--insecure-listen") { Description = "Allow plain http:// on an address other than loopback." };
        var cmd = new Command("mount", "Serve a backup set read-only through the data routes without restoring it: database pages are fetched from the repository chunk by chunk as reads need them (checked, cached on disk), the set's logs replayed into an overlay.")
            { set, instance, stopAt, listen, tokenFile, cache, cacheMax, json, tlsCert, tlsKey, insecure };
        var repo = new RepoOptions();
        repo.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            bool asJson = pr.GetValue(json);
            string? scratch = null;
            try
            {
                long maxBytes = RepositoryStores.ParseSize(pr.GetValue(cacheMax), "--cache-max-bytes") ?? DefaultCacheBytes;
                if (maxBytes < ChunkCache.MinBytes)
                {
                    Console.Error.WriteLine($"blueback mount: --cache-max-bytes {maxBytes} is too small: give at least 16M (two chunks).");
                    return Output.Usage;
                }
                var stop = pr.GetValue(stopAt) is { } s ? RecoveryStop.Parse(s) : null;
                scratch = pr.GetValue(cache) is { } parent
                    ? Directory.CreateDirectory(Path.Combine(Path.GetFullPath(parent), $"blueback-mount-{Environment.ProcessId}-{Guid.NewGuid():N}"[..32])).FullName
                    : Directory.CreateTempSubdirectory("blueback-mount-").FullName;
                var repository = await repo.OpenAsync(pr, signals.Token).ConfigureAwait(false);
                var chain = await RestorePlanner.PlanAsync(repository, pr.GetValue(set)!, pr.GetValue(instance), stop, liveLogsFollow: false, signals.Token).ConfigureAwait(false);
                using var mounted = await MountedSet.MountAsync(repository, chain, scratch, maxBytes, stop, new Phases(asJson), signals.Token).ConfigureAwait(false);
                var imageBytes = mounted.Images.All.Sum(i => i.File.Size);
                MountStatus Status() => new()
                {
                    Set = mounted.Describe,
                    Repository = repository.Store.Location,
                    BytesFetched = mounted.Counters.BytesFetched,
                    ChunksFetched = mounted.Counters.ChunksFetched,
                    CacheHits = mounted.Counters.CacheHits,
                    ChunksEvicted = mounted.Counters.ChunksEvicted,
                    CacheBytes = mounted.Cache.Bytes,
                    CacheMaxBytes = maxBytes,
                    ImageBytes = imageBytes,
                    OverlaidPages = mounted.Images.All.Sum(i => (long)i.OverlaidPages),
                };
                var tokens = pr.GetValue(tokenFile);
                var options = new ServeOptions
                {
                    DataDirectory = mounted.DataDirectory,
                    Listen = pr.GetValue(listen)!,
                    TlsCertificate = pr.GetValue(tlsCert),
                    TlsKey = pr.GetValue(tlsKey),
                    InsecureListen = pr.GetValue(insecure),
                    Quiet = asJson,
                    Mount = new MountedServe(mounted.Instance, mounted.InstanceOptions(), Status, tokens is null ? null : Path.GetFullPath(tokens)),
                    Listening = addresses =>
                    {
                        if (asJson)
                        {
                            Output.WriteJsonLine(new { url = addresses.FirstOrDefault(), urls = addresses, instance = mounted.Instance, set = mounted.Describe, sets = chain.Select(c => c.SetId), repository = repository.Store.Location, tokenFile = tokens is null ? Path.Combine(mounted.DataDirectory, "auth", "admin.token") : Path.GetFullPath(tokens), imageBytes, end = mounted.Report.End, lastCommit = mounted.Report.LastCommitTime });
                            Console.Out.Flush();
                        }
                        else
                        {
                            Console.WriteLine($"Mounted {mounted.Describe} of instance {mounted.Instance} read-only ({imageBytes / 1048576.0:0.0} MiB of database images in the repository; {mounted.Counters}); replayed to {mounted.Report.End}{(mounted.Report.LastCommitTime is { } t ? $", last commit {t:O}" : "")}.");
                        }
                    },
                };
                await BluebackServer.RunAsync(options, asJson ? TextWriter.Null : Console.Out, signals.Token).ConfigureAwait(false);
                var end = Status();
                if (asJson)
                {
                    Output.WriteJsonLine(new { stopped = true, bytesFetched = end.BytesFetched, chunksFetched = end.ChunksFetched, cacheHits = end.CacheHits, chunksEvicted = end.ChunksEvicted, imageBytes });
                }
                else
                {
                    Console.WriteLine($"Unmounted {mounted.Describe}: {mounted.Counters}, of {imageBytes} bytes of images; the cache ({scratch}) is removed.");
                }
                return Output.Ok;
            }
            catch (Exception ex) when (ex is ServerConfigException or StorageException or IOException or FormatException or RepositoryException or ArgumentException or TimeoutException && !signals.Signalled)
            {
                Console.Error.WriteLine($"blueback mount: {Output.Describe(ex)}");
                return ex is RepositoryNotFoundException or SetNotFoundException ? Output.NotFound : Output.Failed;
            }
            catch (Exception ex) when (signals.Signalled && ex is OperationCanceledException or StorageException or IOException or RepositoryException)
            {
                Console.Error.WriteLine("blueback mount: stopped before the set was served.");
                return Output.Cancelled;
            }
            finally
            {
                if (scratch is not null)
                {
                    RemoveScratch(scratch);
                }
            }
        });
        return cmd;
    }

    /// <summary>The cache, overlays and scratch instance are the mount's alone: gone at exit, whatever happened.</summary>
    private static void RemoveScratch(string scratch)
    {
        try
        {
            Directory.Delete(scratch, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"blueback mount: could not remove the cache directory '{scratch}': {ex.Message}. Remove it by hand.");
        }
    }

    /// <summary>Hard recovery's phases on the error stream (the restore's byte counts do not apply: images are not copied).</summary>
    private sealed class Phases(bool quiet) : IProgress<RestoreProgress>
    {
        public void Report(RestoreProgress p)
        {
            if (!quiet && p.Phase is { } phase)
            {
                Console.Error.WriteLine($"mount: {phase.Replace("restoring ", "mounting ", StringComparison.Ordinal)}");
            }
        }
    }
}
