using System.CommandLine;
using System.Diagnostics;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Repository.Compression;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback backup</c>: an online backup of a running server into a repository. The set is committed
/// (manifest written last) before the server is asked to truncate; anything short of that leaves no set.</summary>
internal static class BackupCommand
{
    public static Command Build()
    {
        var server = new Option<string>("--server") { Description = "Server address: http://HOST:PORT or unix:/path.sock.", DefaultValueFactory = _ => "http://127.0.0.1:7420" };
        var instance = new Option<string>("--instance") { Description = "Instance to back up.", DefaultValueFactory = _ => "store" };
        var type = new Option<string>("--type") { Description = "full, copy, incremental or differential.", DefaultValueFactory = _ => "full" };
        var repo = RepositoryCommands.RepoOption();
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var noCompress = new Option<bool>("--no-compress") { Description = "Store chunks uncompressed." };
        var cmd = new Command("backup", "Take an online backup of a server's instance into a repository.") { server, instance, type, repo, json, noCompress };
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            return await RepositoryCommands.GuardAsync(() => RunAsync(pr.GetValue(server)!, pr.GetValue(instance)!, pr.GetValue(type)!, pr.GetValue(repo)!,
                pr.GetValue(json), pr.GetValue(noCompress), signals.Token)).ConfigureAwait(false);
        });
        return cmd;
    }

    private static async Task<int> RunAsync(string server, string instance, string type, string repoDir, bool json, bool noCompress, CancellationToken ct)
    {
        var repo = await RepositoryCommands.Open(repoDir, ct).ConfigureAwait(false);
        var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        string? parent = type switch
        {
            "incremental" => sets.LastOrDefault(s => s.Instance == instance && s.Type is "full" or "incremental")?.SetId,
            "differential" => sets.LastOrDefault(s => s.Instance == instance && s.Type == "full")?.SetId,
            _ => null,
        };
        if (type is "incremental" or "differential" && parent is null)
        {
            Console.Error.WriteLine($"blueback backup: the repository has no full backup of instance '{instance}' to base a {type} backup on; take a full backup into it first.");
            return Output.Failed;
        }
        using var client = new BluebackClient(server);
        var codec = noCompress ? Codec.None : Codec.Default();
        BackupSetWriter? writer = null;
        BackupSession? session = null;
        var sw = Stopwatch.StartNew();
        try
        {
            session = await client.BeginBackupAsync(instance, type, ct).ConfigureAwait(false);
            session.AbortBound = TimeSpan.FromSeconds(1); // Ctrl+C must exit within 2 s, whatever the server does
            writer = repo.BeginSet(session.Id, codec);
            var progress = new Progress(json);
            var manifest = new Manifest
            {
                ParentSetId = parent,
                Instance = instance,
                Server = server,
                Type = type,
                Started = DateTime.UtcNow,
                LogSignature = session.Info.LogSignature,
                GenLow = session.Info.GenLow,
                Databases = session.Databases.Select(d => new ManifestDatabase { Name = d.Name, Id = d.Id, Signature = d.Signature, PageSize = d.PageSize }).ToList(),
            };
            foreach (var db in type is "full" or "copy" ? session.Databases : [])
            {
                await using var image = await session.OpenDatabaseImageAsync(db.Name, ct).ConfigureAwait(false);
                var path = $"databases/{db.Name}.bdb";
                await writer.AddFileAsync(path, image, done => progress.Report(path, done, image.Length), ct).ConfigureAwait(false);
            }
            var logs = await session.ListLogsAsync(ct).ConfigureAwait(false);
            manifest.GenHigh = logs.GenHigh;
            foreach (var g in logs.Generations)
            {
                await using var log = await session.OpenLogAsync(g.Generation, ct).ConfigureAwait(false);
                var path = $"logs/{g.File}";
                await writer.AddFileAsync(path, log, done => progress.Report(path, done, log.Length), ct).ConfigureAwait(false);
            }
            manifest.Ended = DateTime.UtcNow;
            await writer.CommitAsync(manifest, ct).ConfigureAwait(false);
            // The set is durable: only now may the server delete the logs it holds.
            IReadOnlyList<uint> truncated = type is "full" or "incremental" ? await session.TruncateAsync(ct).ConfigureAwait(false) : [];
            await session.EndAsync(ct).ConfigureAwait(false);
            progress.Done();
            double secs = sw.Elapsed.TotalSeconds;
            if (json)
            {
                Output.WriteJson(new { set = session.Id, instance, type, parent, bytes = writer.RawBytes, stored = writer.StoredBytes, codec = writer.CodecName, seconds = secs, genLow = manifest.GenLow, genHigh = manifest.GenHigh, truncated });
            }
            else
            {
                Console.WriteLine($"Backup set {session.Id}: {type} of {instance}, generations {manifest.GenLow}-{manifest.GenHigh}, {writer.RawBytes / 1048576.0:0.0} MiB ({writer.StoredBytes / 1048576.0:0.0} MiB stored, {writer.CodecName}) in {secs:0.0} s ({writer.RawBytes / 1e6 / secs:0} MB/s); {truncated.Count} log generation(s) truncated on the server.");
            }
            return Output.Ok;
        }
        catch (Exception ex) when (ex is BluebackApiException or BackupStreamException or HttpRequestException)
        {
            writer?.Abandon();
            Console.Error.WriteLine($"blueback backup: {ex.Message} No set was written; the server's logs were not truncated.");
            return Output.Failed;
        }
        catch
        {
            writer?.Abandon();
            throw;
        }
        finally
        {
            if (session is not null)
            {
                await session.DisposeAsync().ConfigureAwait(false); // aborts within its bound unless the backup ended
            }
        }
    }

    /// <summary>Progress on stderr: one updating line on a terminal, a plain line every few seconds otherwise.</summary>
    private sealed class Progress(bool quiet)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private TimeSpan _last;
        private long _bytes;
        private long _fileDone;

        public void Report(string file, long done, long total)
        {
            _bytes += done - _fileDone;
            _fileDone = done == total ? 0 : done;
            if (quiet || _clock.Elapsed - _last < TimeSpan.FromSeconds(_terminal ? 0.25 : 5))
            {
                return;
            }
            _last = _clock.Elapsed;
            double rate = _bytes / 1e6 / Math.Max(0.001, _clock.Elapsed.TotalSeconds);
            var eta = total > 0 && rate > 0 ? $", {(total - done) / 1e6 / rate:0}s left in this file" : "";
            var line = $"backup: {file} {done / 1048576.0:0}/{total / 1048576.0:0} MiB, {_bytes / 1048576.0:0} MiB in all, {rate:0} MB/s{eta}";
            if (_terminal)
            {
                Console.Error.Write("\r" + line.PadRight(100));
            }
            else
            {
                Console.Error.WriteLine(line);
            }
        }

        public void Done()
        {
            if (_terminal && !quiet && _last > TimeSpan.Zero)
            {
                Console.Error.WriteLine();
            }
        }
    }
}
