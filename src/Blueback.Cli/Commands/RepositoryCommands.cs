using Blueback.Protocol;
using System.CommandLine;
using Blueback.Backup;
using Blueback.Repository;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback repo init|gc</c>, <c>blueback list</c>, <c>blueback verify</c>.</summary>
internal static class RepositoryCommands
{
    public static Command Repo()
    {
        var repo = new Command("repo", "Create and maintain backup repositories.");
        var initOpts = new RepoOptions();
        var where = new Argument<string>("LOCATION") { Description = "A directory, or s3://BUCKET/PREFIX in an existing bucket." };
        var encrypt = new Option<bool>("--encrypt") { Description = $"Seal every chunk and manifest with AES-256-GCM, under a key file (--key-file F: created if absent) or the passphrase in ${RepositorySecret.PasswordVariable}." };
        var format = new Option<int>("--format") { Description = "Repository format: 2 (shared, deduplicated chunks; the default) or 1 (each set's chunks in its own folder, as blueback wrote before format 2).", DefaultValueFactory = _ => BackupRepository.FormatVersion };
        var fromKey = new Option<string?>("--from-key") { Description = "Rebuild a missing or damaged config.json of the repository at LOCATION from this key export ('blueback repo key export'); an encrypted one is checked to open with --key-file or the passphrase." };
        var immutableDays = new Option<int?>("--immutable-days") { Description = "Make the repository immutable: nothing in it is ever overwritten or deleted before it is N days old; on S3 every object is locked that long (Object Lock: the bucket must have it on). forget and gc keep working and wait for the locks (docs/repository.md)." };
        var lockMode = new Option<string>("--lock-mode") { Description = "With --immutable-days, the S3 Object Lock mode: compliance (nobody can shorten or remove a lock; the default) or governance (a credential with s3:BypassGovernanceRetention can).", DefaultValueFactory = _ => "compliance" };
        var init = new Command("init", "Create a repository (or, with --from-key, rebuild a lost config.json).") { where, encrypt, format, fromKey, immutableDays, lockMode };
        initOpts.AddTo(init, withRepo: false);
        init.SetAction(async (pr, ct) => await GuardAsync(async () =>
        {
            if (pr.GetValue(fromKey) is { } export)
            {
                var rebuilt = await BackupRepository.InitFromKeyAsync(initOpts.Store(pr, pr.GetValue(where)!), await File.ReadAllBytesAsync(export, ct).ConfigureAwait(false), export, initOpts.Secret(pr), ct).ConfigureAwait(false);
                Console.WriteLine($"Rebuilt the config of repository {rebuilt.Id} (format {rebuilt.Format}{(rebuilt.IsEncrypted ? ", encrypted; it opens with the secret given" : "")}) in {rebuilt.Store.Location} from {export}.");
                return Output.Ok;
            }
            RepositorySecret? secret = null;
            if (pr.GetValue(encrypt))
            {
                var keyFile = pr.GetValue(initOpts.KeyFile);
                secret = keyFile is not null
                    ? File.Exists(keyFile) ? RepositorySecret.KeyFile(keyFile) : RepositorySecret.CreateKeyFile(keyFile)
                    : RepositorySecret.FromKeyFileOrEnvironment(null)
                      ?? throw new RepositoryException($"--encrypt needs a secret: --key-file F (created if it does not exist) or a passphrase in ${RepositorySecret.PasswordVariable}.");
            }
            else if (pr.GetValue(initOpts.KeyFile) is not null)
            {
                throw new RepositoryException("--key-file is for an encrypted repository: add --encrypt.");
            }
            var immutable = pr.GetValue(immutableDays) is { } days ? ImmutabilityConfig.Create(days, ImmutabilityConfig.ParseMode(pr.GetValue(lockMode)!)) : null;
            if (immutable is null && pr.GetResult(lockMode) is { Implicit: false })
            {
                throw new RepositoryException("--lock-mode is for an immutable repository: add --immutable-days N.");
            }
            var r = await BackupRepository.InitAsync(initOpts.Store(pr, pr.GetValue(where)!), pr.GetValue(format), secret, immutable, ct).ConfigureAwait(false);
            Console.WriteLine($"Created repository {r.Id} (format {r.Format}{(secret is not null ? $", encrypted with AES-256-GCM; opened with {secret.Origin}: keep it, without it nothing in the repository can be read" : "")}{(immutable is not null ? $", immutable: every object locked for {immutable}" : "")}) in {r.Store.Location}.");
            if (secret is not null)
            {
                Console.WriteLine($"Its wrapped master key is in {r.Store.Location}/config.json and nowhere else: keep a copy apart from the repository ('blueback repo key export --repo {r.Store.Location} --out FILE'); if config.json is lost, 'blueback repo init LOCATION --from-key FILE' rebuilds it.");
            }
            return Output.Ok;
        }).ConfigureAwait(false));
        repo.Subcommands.Add(init);
        var passwdOpts = new RepoOptions();
        var newKeyFile = new Option<string?>("--new-key-file") { Description = $"Open the repository with this key file from now on (created if absent); otherwise with the passphrase in ${RepositorySecret.NewPasswordVariable}." };
        var passwd = new Command("passwd", "Change the passphrase or key file of an encrypted repository (its data key is rewrapped; no data is rewritten).") { newKeyFile };
        passwdOpts.AddTo(passwd);
        passwd.SetAction(async (pr, ct) => await GuardAsync(async () =>
        {
            var r = await passwdOpts.OpenAsync(pr, ct).ConfigureAwait(false);
            var path = pr.GetValue(newKeyFile);
            var next = path is not null
                ? File.Exists(path) ? RepositorySecret.KeyFile(path) : RepositorySecret.CreateKeyFile(path)
                : RepositorySecret.FromKeyFileOrEnvironment(null, RepositorySecret.NewPasswordVariable)
                  ?? throw new RepositoryException($"Give the new secret: --new-key-file F, or the new passphrase in ${RepositorySecret.NewPasswordVariable}.");
            await r.ChangeSecretAsync(next, ct).ConfigureAwait(false);
            Console.WriteLine($"Repository {r.Id} now opens with {next.Origin}; the old secret no longer does.");
            return Output.Ok;
        }).ConfigureAwait(false));
        repo.Subcommands.Add(passwd);
        repo.Subcommands.Add(Info());
        repo.Subcommands.Add(KeyCommand());
        var gcOpts = new RepoOptions();
        var grace = new Option<string>("--grace") { Description = "Leave sets without a manifest alone until nothing in them changed for this long (a backup may still be writing them): 1h by default; 30m, 2h, 1d...", DefaultValueFactory = _ => "1h" };
        var gcJson = new Option<bool>("--json") { Description = "Print what gc did as JSON (removed, kept, and in an immutable repository what waits for its lock)." };
        var gc = new Command("gc", "Remove what unfinished or forgotten backups left behind (sets without a committed manifest), and unfinished uploads.") { grace, gcJson };
        gcOpts.AddTo(gc);
        gc.SetAction(async (pr, ct) =>
        {
            using var signals = new Signals();
            // Each removal is one file or object, and only what no committed set names: a stop between two leaves
            // the rest for the next gc. A delete blocked on a hung volume does not hold a ^C.
            signals.BoundStop(Signals.LowPriorityStopBound, "gc removes only what no committed set names; what it had not removed yet, the next gc removes", static () => { });
            return await GuardAsync(() => CollectGarbageAsync(pr, gcOpts, grace, gcJson, ct), ct).ConfigureAwait(false);
        });
        repo.Subcommands.Add(gc);
        repo.Subcommands.Add(CopyCommand.Build());
        return repo;
    }

    /// <summary><c>repo key export</c>: a copy of config.json (id, format, the wrapped master key), to keep apart from
    /// the repository; <c>repo init --from-key</c> rebuilds config.json from it.</summary>
    private static Command KeyCommand()
    {
        var opts = new RepoOptions();
        var output = new Option<string?>("--out") { Description = "Write the export to this file (readable by its user only) instead of standard output." };
        var export = new Command("export", "Print or save the repository's key export (its config.json: id, format and, if encrypted, the wrapped master key, which opens nothing without the passphrase or key file). Keep it apart from the repository.") { output };
        opts.AddTo(export);
        export.SetAction(async (pr, ct) => await GuardAsync(async () =>
        {
            var r = await opts.OpenAsync(pr, ct).ConfigureAwait(false);
            var bytes = r.ExportKey();
            if (pr.GetValue(output) is { } path)
            {
                await File.WriteAllBytesAsync(path, bytes, ct).ConfigureAwait(false);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }
                Console.Error.WriteLine($"Wrote the key export of repository {r.Id} to {path}. Keep it apart from the repository; 'blueback repo init {r.Store.Location} --from-key {path}' rebuilds a lost config.json.");
            }
            else
            {
                Console.WriteLine(System.Text.Encoding.UTF8.GetString(bytes));
            }
            return Output.Ok;
        }).ConfigureAwait(false));
        return new Command("key", "The repository's key: export it, to rebuild a lost config.json with 'repo init --from-key'.") { export };
    }

    private static async Task<int> CollectGarbageAsync(ParseResult pr, RepoOptions gcOpts, Option<string> grace, Option<bool> json, CancellationToken ct)
    {
        var r = await gcOpts.OpenAsync(pr, ct).ConfigureAwait(false);
        var graceTime = Durations.Parse(pr.GetValue(grace)!, "--grace");
        var report = await RepositoryMaintenance.CollectGarbageAsync(r, graceTime, ct).ConfigureAwait(false);
        if (pr.GetValue(json))
        {
            Output.WriteJson(report);
            return Output.Ok;
        }
        Console.WriteLine(report.Removed.Count == 0 ? "No set to remove." : $"Removed {report.Removed.Count} set(s) without a manifest ({report.RemovedBytes / 1048576.0:0.0} MiB): {string.Join(", ", report.Removed)}.");
        foreach (var line in report.StoreLeftovers)
        {
            Console.WriteLine($"Removed {line}.");
        }
        if (report.Young.Count > 0)
        {
            Console.WriteLine($"Left {report.Young.Count} set(s) without a manifest that changed within the grace period (a backup may still be writing them): {string.Join(", ", report.Young)}.");
        }
        if (r.Format >= 2)
        {
            Console.WriteLine($"Chunks: {report.ChunksInUse} named by sets, kept; {report.ChunksRemoved} named by none, removed ({report.ChunkBytesRemoved / 1048576.0:0.0} MiB); {report.ChunksYoung} named by none but younger than the grace or than a running backup, kept.");
        }
        if (report.ForgottenKept.Count > 0)
        {
            Console.WriteLine($"Kept {report.ForgottenKept.Count} forgotten set(s) within the grace period (hidden from list, still restorable by id): {string.Join(", ", report.ForgottenKept)}.");
        }
        if (report.LockedObjects > 0)
        {
            var sets = report.LockedSets.Count > 0 ? $" of {report.LockedSets.Count} forgotten or unfinished set(s) ({string.Join(", ", report.LockedSets)}) and unnamed chunks" : "";
            Console.WriteLine($"Waiting for their lock ({r.Immutable}): {report.LockedObjects} object(s){sets}, {report.LockedBytes / 1048576.0:0.0} MiB, the first unlocked at {report.FirstUnlock:u}, the last at {report.LastUnlock:u}; until then they stay whole (forgotten sets restorable by id). Run gc again after that.");
        }
        return Output.Ok;
    }

    /// <summary><c>repo info</c>: what the repository is (id, format, encryption, immutability, chain head).</summary>
    private static Command Info()
    {
        var opts = new RepoOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var info = new Command("info", "Show what a repository is: its id, format, encryption, immutability and chain head.") { json };
        opts.AddTo(info);
        info.SetAction(async (pr, ct) => await GuardAsync(async () =>
        {
            var r = await opts.OpenAsync(pr, ct).ConfigureAwait(false);
            var head = (await r.ChainHeadAsync(ct).ConfigureAwait(false))?.ToString();
            if (pr.GetValue(json))
            {
                Output.WriteJson(new { id = r.Id, location = r.Store.Location, format = r.Format, created = r.Config.Created, encrypted = r.IsEncrypted, immutable = r.Immutable is { } i ? new { days = i.Days, seconds = i.Seconds, lockMode = i.Mode } : null, chainHead = head });
                return Output.Ok;
            }
            Console.WriteLine($"repository {r.Id} in {r.Store.Location}: format {r.Format}, created {r.Config.Created:u}, {(r.IsEncrypted ? "encrypted" : "not encrypted")}, {(r.Immutable is { } im ? $"immutable ({im})" : "not immutable")}; chain head {head ?? "none yet"}.");
            return Output.Ok;
        }).ConfigureAwait(false));
        return info;
    }

    public static Command List()
    {
        var repoOpts = new RepoOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var also = new Option<string?>("--also") { Description = "A second repository (a directory or s3://BUCKET/PREFIX, with the same S3 settings): show whether it holds each set too ('blueback repo copy' puts them there). Only its manifests' names are read, so it needs no key." };
        var cmd = new Command("list", "List the committed backup sets of a repository.") { json, also };
        repoOpts.AddTo(cmd);
        cmd.SetAction(async (pr, ct) =>
        {
            using var signals = new Signals();
            signals.BoundStop(Signals.LowPriorityStopBound, "list changes nothing, so nothing was left", static () => { }); // a read blocked on a hung volume does not hold a ^C
            return await GuardAsync(() => ListAsync(pr, repoOpts, json, also, ct), ct).ConfigureAwait(false);
        });
        return cmd;
    }

    private static async Task<int> ListAsync(ParseResult parse, RepoOptions repoOpts, Option<bool> json, Option<string?> also, CancellationToken ct)
    {
        var r = await repoOpts.OpenAsync(parse, ct).ConfigureAwait(false);
        var manifests = await r.ListSetsAsync(ct).ConfigureAwait(false);
        var sets = await RepositoryListing.SetsAsync(r, manifests, ct).ConfigureAwait(false);
        if (parse.GetValue(also) is { } second)
        {
            await RepositoryListing.MarkAlsoInAsync(sets, repoOpts.Store(parse, second), ct).ConfigureAwait(false);
        }
        var ranges = await RepositoryListing.ShippedAsync(r, manifests, ct).ConfigureAwait(false);
        var head = (await r.ChainHeadAsync(ct).ConfigureAwait(false))?.ToString();
        sets.ForEach(s => s.ChainHead = head);
        ranges.ForEach(x => x.ChainHead = head);
        if (parse.GetValue(json))
        {
            Output.WriteJson(sets.Cast<object>().Concat(ranges));
            return Output.Ok;
        }
        var alsoHeader = parse.GetValue(also) is null ? "" : $"{"also",-5} ";
        Console.WriteLine($"{"set",-32}  {"instance",-10} {"type",-12} {"ended (UTC)",-19}  {"generations",-13} {"size",10}  {"verified",-22}  {"proven",-22}  {alsoHeader}parent");
        foreach (var s in sets)
        {
            var v = s.Verified is { } rec ? $"{(rec.Ok ? "ok" : "FAILED")} {rec.Time:yyyy-MM-dd HH:mm}" : "never";
            var p = s.Proved is { } pr ? $"{(pr.Ok ? pr.DigestMatch == true ? "ok" : "ok/nodig" : "FAILED")} {pr.Time:yyyy-MM-dd HH:mm}" : "never";
            Console.WriteLine($"{s.Id,-32}  {s.Instance,-10} {(s.ChangedSince is null ? s.Type : s.Type[..4] + "+pages"),-12} {s.Ended:yyyy-MM-dd HH:mm:ss}  {$"{s.GenLow}-{s.GenHigh}",-13} {s.Size / 1048576.0,8:0.0}Mi  {v,-22}  {p,-22}  {(s.AlsoIn is { } there ? $"{(there ? "yes" : "NO"),-5} " : "")}{s.Parent ?? "-"}");
        }
        foreach (var x in ranges)
        {
            var lag = x.Cover is { } c ? $", commits up to {c:yyyy-MM-dd HH:mm:ss.fff} ({(DateTime.UtcNow - c).TotalSeconds:0.0} s ago)" : "";
            Console.WriteLine($"shipped logs of {x.Instance}: generations {x.GenLow}-{x.GenHigh} ({x.Generations}) after {x.AttachedTo ?? "NO full set (restore cannot use them)"}{lag}{(x.Stranded > 0 ? $"; {x.Stranded} more after a gap, never replayed (run 'blueback verify')" : "")}");
        }
        Console.WriteLine(head is null ? "chain: none yet (it begins at the next commit)" : $"chain head: {head} (keep it apart from the repository; 'blueback verify --expect-head {head}' checks the chain against it)");
        return Output.Ok;
    }

    public static Command Verify()
    {
        var repoOpts = new RepoOptions();
        var set = new Option<string?>("--set") { Description = "The set to verify (default: all)." };
        var all = new Option<bool>("--all") { Description = "Verify every set (the default)." };
        var expectHead = new Option<string?>("--expect-head") { Description = "The repository's chain head recorded earlier, apart from it (SEQ:HASH, from 'list --json', 'backup --json' or the server's policy history): a chain cut short or rebuilt since is named." };
        var cmd = new Command("verify", "Re-read sets: manifest checksum, chunk checksums, file hashes, every page's checksum, the chain to the full set; and the repository's hash chain (tamper evidence).") { set, all, expectHead };
        repoOpts.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            signals.BoundStop(Signals.LowPriorityStopBound, "verify changes nothing, so nothing was left", static () => { }); // a read blocked on a hung volume does not hold a ^C
            return await GuardAsync(async () =>
            {
                var expected = pr.GetValue(expectHead) is { } h ? Repository.Chain.ChainHead.Parse(h) : (Repository.Chain.ChainHead?)null;
                var r = await repoOpts.OpenAsync(pr, signals.Token).ConfigureAwait(false);
                var sets = await r.ListSetsAsync(signals.Token).ConfigureAwait(false);
                var shipped = await r.ListShippedAsync(null, signals.Token).ConfigureAwait(false);
                var id = pr.GetValue(set);
                var chosen = id is null ? sets : id.StartsWith(BackupRepository.ShippedRoot + "/", StringComparison.Ordinal) ? [] : [await r.ReadManifestAsync(SetIds.ResolveId(sets, id), signals.Token).ConfigureAwait(false)];
                if (id is not null && chosen.Count == 0)
                {
                    shipped = shipped.Where(k => k.SetId == id).ToList();
                    if (shipped.Count == 0)
                    {
                        throw new RepositoryException($"the repository holds no shipped generation '{id}' (with a committed manifest). 'blueback list' shows the shipped ranges.");
                    }
                }
                else if (id is not null)
                {
                    shipped = [];
                }
                int bad = 0;
                foreach (var m in chosen)
                {
                    var problems = await SetVerification.VerifyAndRecordAsync(r, m, sets, signals.Token).ConfigureAwait(false);
                    Console.WriteLine(problems.Count == 0 ? $"set {m.SetId} ({m.Instance}, {m.Type}): OK, {m.Files.Count} files verified" : $"set {m.SetId} ({m.Instance}, {m.Type}): {problems.Count} problem(s)");
                    foreach (var p in problems)
                    {
                        Console.WriteLine($"  {p}");
                    }
                    bad += problems.Count;
                }
                if (shipped.Count > 0)
                {
                    var (generations, runs) = await ShippedVerification.VerifyAsync(r, sets, shipped, signals.Token).ConfigureAwait(false);
                    foreach (var (key, problems) in generations.Where(g => g.Problems.Count > 0))
                    {
                        Console.WriteLine($"shipped generation {key.Generation} of {key.Instance} ({key.SetId}): {problems.Count} problem(s)");
                        foreach (var p in problems)
                        {
                            Console.WriteLine($"  {p}");
                        }
                        bad += problems.Count;
                    }
                    foreach (var p in id is null ? runs : [])
                    {
                        Console.WriteLine($"shipped logs: {p}");
                        bad++;
                    }
                    int good = generations.Count(g => g.Problems.Count == 0);
                    Console.WriteLine($"shipped logs: {good} of {generations.Count} generation(s) OK{(good < generations.Count ? "" : ", every record verified")}");
                }
                if (id is null || expected is not null)
                {
                    bad += await VerifyChainAsync(r, expected, signals.Token).ConfigureAwait(false);
                }
                return bad == 0 ? Output.Ok : Output.ProblemFound;
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    /// <summary>Checks the repository's hash chain and prints what it found; returns the number of problems.</summary>
    private static async Task<int> VerifyChainAsync(BackupRepository r, Repository.Chain.ChainHead? expected, CancellationToken ct)
    {
        var chain = await r.CheckChainAsync(expected, ct).ConfigureAwait(false);
        Console.WriteLine(chain.Head is not { } head
            ? "chain: none yet (it begins at the next commit)"
            : $"chain: {chain.Entries} entr{(chain.Entries == 1 ? "y" : "ies")}, head {head}{(chain.Began is { } began ? $"; it began at {began:yyyy-MM-dd HH:mm:ss} UTC{(chain.Baseline > 0 ? $" with the {chain.Baseline} set(s) and shipped generation(s) the repository held then (checked against the hashes recorded there; nothing before is covered)" : "")}" : "")}{(chain.Problems.Count == 0 ? ": OK" : $": {chain.Problems.Count} problem(s)")}");
        foreach (var p in chain.Problems)
        {
            Console.WriteLine($"  {p}");
        }
        return chain.Problems.Count;
    }

    /// <summary>Runs a command's body, turning its failures into a message and an exit code. Once
    /// <paramref name="stopped"/> has fired (Ctrl+C, SIGTERM), whatever the body throws is the stop's doing (a torn
    /// connection, an aborted write) and exits 130 as a cancel, never 2 as a failure.</summary>
    public static async Task<int> GuardAsync(Func<Task<int>> body, CancellationToken stopped = default)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (BackupStoppedAfterCommitException ex)
        {
            Console.Error.WriteLine($"blueback: cancelled. {ex.Message}");
            return Output.Cancelled;
        }
        catch (Exception ex) when (ex is OperationCanceledException || (stopped.IsCancellationRequested && ex is not OutOfMemoryException))
        {
            Console.Error.WriteLine("blueback: cancelled.");
            return Output.Cancelled;
        }
        catch (RepositoryException ex)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return ex is RepositoryNotFoundException or SetNotFoundException ? Output.NotFound : Output.Failed;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Output.Failed;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or ProofRefusedException)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Output.Failed;
        }
    }
}
