using System.CommandLine;
using Blueback.Storage.Diagnostics;
using Blueback.Storage.Format;
using Blueback.Storage.Recovery;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback db</c>: offline diagnostics of database files, log directories and checkpoints.</summary>
internal static class DbCommands
{
    public static Command Build()
    {
        var db = new Command("db", "Offline diagnostics: database headers, page checksums, log generations, checkpoints.");
        db.Subcommands.Add(Header());
        db.Subcommands.Add(ChecksumCommand());
        db.Subcommands.Add(Logs());
        db.Subcommands.Add(CheckpointCommand());
        db.Subcommands.Add(Recover());
        return db;
    }

    /// <summary>Hard recovery of restored files already in place (the original's eseutil /cc), from the directory's
    /// restore record; options given here override the record's stop point and play-forward.</summary>
    private static Command Recover()
    {
        var dir = new Argument<DirectoryInfo>("DIR") { Description = "The instance directory a restore wrote into." };
        var stopAt = new Option<string?>("--stop-at") { Description = "Stop point: a time (ISO 8601) or a log position GEN:OFFSET." };
        var noForward = new Option<bool>("--no-play-forward") { Description = "Replay only the restored sets' logs." };
        var contiguous = new Option<bool>("--up-to-contiguous") { Description = "Play forward up to the first missing or foreign generation instead of failing there." };
        var cmd = new Command("recover", "Run hard recovery on a restored instance directory (after an interrupted restore, or files put in place by hand).") { dir, stopAt, noForward, contiguous };
        cmd.SetAction(pr =>
        {
            using var signals = new Signals();
            return Output.Guard(() =>
            {
                var path = pr.GetValue(dir)!.FullName;
                var record = Storage.Restore.RestoreRecord.Read(path)
                    ?? throw new Storage.RestoreException($"'{path}' has no restore record: nothing was restored there. Restore with 'blueback restore' first.");
                if (pr.GetValue(stopAt) is { } s)
                {
                    record.Stop = Storage.Restore.RecoveryStop.Parse(s).ToString();
                }
                record.PlayForward &= !pr.GetValue(noForward);
                record.UpToContiguous |= pr.GetValue(contiguous);
                record.Write(path);
                var r = Storage.Restore.HardRecovery.Run(path, null, m => Console.Error.WriteLine($"recover: {m}"), signals.Token);
                Console.WriteLine($"Recovered {path}: replayed {r.TransactionsReplayed} transactions from {r.From} to {r.End}{(r.EndReason is null ? "" : $"; {r.EndReason}")}.");
                return Output.Ok;
            });
        });
        return cmd;
    }

    private static Option<bool> JsonOption() => new("--json") { Description = "Print JSON for scripts instead of text." };

    private static Command Header()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A database file (.bdb)." };
        var json = JsonOption();
        var cmd = new Command("header", "Print a database's header: state, signatures, required log generations, backups.") { file, json };
        cmd.SetAction(pr => Output.Guard(() =>
        {
            var path = pr.GetValue(file)!.FullName;
            var h = DatabaseCheck.ReadHeader(path);
            var view = new
            {
                file = path,
                formatVersion = h.FormatVersion,
                pageSize = h.PageSize,
                state = h.State.ToString(),
                databaseSignature = h.DatabaseSignature,
                logSignature = h.LogSignature,
                genMinRequired = h.GenMinRequired,
                genMaxRequired = h.GenMaxRequired,
                consistentLsn = Lsn.FromValue(h.ConsistentLsn),
                consistentTime = h.ConsistentTicks == 0 ? (DateTime?)null : new DateTime(h.ConsistentTicks, DateTimeKind.Utc),
                revision = h.Revision,
                lastFull = Backup(h.LastFull),
                lastIncremental = Backup(h.LastIncremental),
                lastDifferential = Backup(h.LastDifferential),
                lastCopy = Backup(h.LastCopy),
                currentBackup = Backup(h.CurrentBackup),
            };
            if (pr.GetValue(json))
            {
                Output.WriteJson(view);
                return Output.Ok;
            }
            Console.WriteLine($"Database: {path}");
            Console.WriteLine($"  Format version:     {view.formatVersion}");
            Console.WriteLine($"  Page size:          {view.pageSize}");
            Console.WriteLine($"  State:              {view.state}");
            Console.WriteLine($"  Database signature: {view.databaseSignature}");
            Console.WriteLine($"  Log signature:      {view.logSignature}");
            Console.WriteLine($"  Log required:       {view.genMinRequired}-{view.genMaxRequired}");
            Console.WriteLine($"  Consistent at:      {view.consistentLsn} {view.consistentTime:O}");
            Console.WriteLine($"  Header revision:    {view.revision}");
            Console.WriteLine($"  Last full backup:   {Describe(h.LastFull)}");
            Console.WriteLine($"  Last incremental:   {Describe(h.LastIncremental)}");
            Console.WriteLine($"  Last differential:  {Describe(h.LastDifferential)}");
            Console.WriteLine($"  Last copy:          {Describe(h.LastCopy)}");
            Console.WriteLine($"  Backup in progress: {Describe(h.CurrentBackup)}");
            return Output.Ok;
        }));
        return cmd;
    }

    private static object? Backup(BackupInfo b) => b.IsEmpty ? null : new
    {
        mark = Lsn.FromValue(b.MarkLsn),
        time = new DateTime(b.MarkTicks, DateTimeKind.Utc),
        genLow = b.GenLow,
        genHigh = b.GenHigh,
    };

    private static string Describe(BackupInfo b) =>
        b.IsEmpty ? "none" : $"generations {b.GenLow}-{b.GenHigh} at {Lsn.FromValue(b.MarkLsn)} ({new DateTime(b.MarkTicks, DateTimeKind.Utc):O})";

    private static Command ChecksumCommand()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A database file (.bdb)." };
        var json = JsonOption();
        var cmd = new Command("checksum", "Verify every page's checksum and page number. Exits 1 if any page is bad, naming each.") { file, json };
        cmd.SetAction((pr, ct) =>
        {
            using var signals = new Signals();
            signals.BoundStop(Signals.LowPriorityStopBound, "checksum changes nothing, so nothing was left", static () => { }); // a read blocked on a hung volume does not hold a ^C
            return Task.FromResult(Checksum(pr, file, json, ct));
        });
        return cmd;
    }

    private static int Checksum(ParseResult pr, Argument<FileInfo> file, Option<bool> json, CancellationToken ct) => Output.Guard(() =>
    {
        var path = pr.GetValue(file)!.FullName;
        var r = DatabaseCheck.Checksum(path, cancellationToken: ct);
        if (pr.GetValue(json))
        {
            Output.WriteJson(new
            {
                file = r.File,
                pageSize = r.PageSize,
                pages = r.Pages,
                good = r.Good,
                uninitialized = r.Uninitialized,
                checksumMismatches = r.ChecksumMismatches,
                wrongPageNumbers = r.WrongPageNumbers,
                bad = r.Bad.Select(b => new { page = b.Page, problem = b.Problem.ToString(), detail = b.Detail }),
                ok = r.Ok,
            });
        }
        else
        {
            Console.WriteLine($"Database: {r.File}");
            Console.WriteLine($"  Pages:              {r.Pages} of {r.PageSize} bytes");
            Console.WriteLine($"  Good:               {r.Good}");
            Console.WriteLine($"  Never written:      {r.Uninitialized}");
            Console.WriteLine($"  Checksum mismatch:  {r.ChecksumMismatches}");
            Console.WriteLine($"  Wrong page number:  {r.WrongPageNumbers}");
            foreach (var b in r.Bad)
            {
                Console.WriteLine($"  BAD {b.Detail}");
            }
            Console.WriteLine(r.Ok ? "  Result: every page verified." : $"  Result: {r.Bad.Count} bad page(s). Restore this database from a backup.");
        }
        return r.Ok ? Output.Ok : Output.ProblemFound;
    });

    private static Command Logs()
    {
        var dir = new Argument<DirectoryInfo>("DIR") { Description = "A log directory (an instance's logs/ folder) or an instance directory." };
        var json = JsonOption();
        var cmd = new Command("logs", "Verify log generations: headers, record checksums, signatures, gaps, contiguity, damage.") { dir, json };
        cmd.SetAction((pr, ct) => Task.FromResult(Output.Guard(() =>
        {
            var path = pr.GetValue(dir)!.FullName;
            if (Directory.Exists(Path.Combine(path, Storage.StorageInstance.LogDirectoryName)))
            {
                path = Path.Combine(path, Storage.StorageInstance.LogDirectoryName);
            }
            var r = LogCheck.Verify(path, ct);
            if (pr.GetValue(json))
            {
                Output.WriteJson(new { directory = r.Directory, generations = r.Generations, problems = r.Problems, ok = r.Ok });
            }
            else
            {
                Console.WriteLine($"Log directory: {r.Directory}");
                foreach (var g in r.Generations)
                {
                    Console.WriteLine($"  {Path.GetFileName(g.File)}  gen {g.Generation}  {g.Records} records, {g.Commits} commits  {g.End}  created {g.Created:O}");
                    foreach (var p in g.Problems)
                    {
                        Console.WriteLine($"    PROBLEM: {p}");
                    }
                }
                foreach (var p in r.Problems)
                {
                    Console.WriteLine($"  PROBLEM: {p}");
                }
                if (r.Generations.Count > 0)
                {
                    Console.WriteLine($"  Signature: {r.Generations[0].LogSignature}");
                }
                Console.WriteLine(r.Ok ? "  Result: the log is intact and contiguous." : "  Result: the log has problems (above). Restore the named generations from a backup.");
            }
            return r.Ok ? Output.Ok : Output.ProblemFound;
        })));
        return cmd;
    }

    private static Command CheckpointCommand()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A checkpoint file (checkpoint.chk) or an instance directory." };
        var json = JsonOption();
        var cmd = new Command("checkpoint", "Print an instance's checkpoint: where recovery starts and the attached databases.") { file, json };
        cmd.SetAction(pr => Output.Guard(() =>
        {
            var path = pr.GetValue(file)!.FullName;
            if (Directory.Exists(path))
            {
                path = Path.Combine(path, CheckpointFile.FileName);
            }
            var c = CheckpointFile.Read(path);
            if (pr.GetValue(json))
            {
                Output.WriteJson(new { file = path, logSignature = c.LogSignature, checkpoint = c.Checkpoint, revision = c.Revision, written = c.Written, databases = c.Databases });
                return Output.Ok;
            }
            Console.WriteLine($"Checkpoint: {path}");
            Console.WriteLine($"  Log signature: {c.LogSignature}");
            Console.WriteLine($"  Checkpoint:    {c.Checkpoint} (recovery starts in generation {c.Checkpoint.Generation})");
            Console.WriteLine($"  Revision:      {c.Revision}, written {c.Written:O}");
            foreach (var d in c.Databases)
            {
                Console.WriteLine($"  Database {d.Id}: {d.Path}  {d.Signature}");
            }
            return Output.Ok;
        }));
        return cmd;
    }
}
