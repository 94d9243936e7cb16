using Blueback.Protocol.Programs;
using System.CommandLine;
using Blueback.Backup;
using Blueback.IO;
using Blueback.Repository;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback prove</c>: restores sets into a scratch directory, recovers them, checks every page and compares
/// every table with the digest the backup took; records the outcome beside each set (shown by <c>list</c>).</summary>
internal static class ProveCommand
{
    public static Command Build()
    {
        var repoOpts = new RepoOptions();
        var set = new Option<string?>("--set") { Description = "The set to prove (default: the newest set)." };
        var all = new Option<bool>("--all") { Description = "Prove every set, oldest first." };
        var unproven = new Option<bool>("--unproven") { Description = "Prove every set never proven yet." };
        var scratch = new Option<string?>("--scratch") { Description = "Where the scratch restore goes (removed after); default: a directory under the system's temporary directory." };
        var maxScratch = new Option<long?>("--max-scratch-mb") { Description = "Refuse a proof whose restore would take more than this many MiB." };
        var nice = new Option<int>("--nice") { Description = "CPU priority (Linux nice, 0 to 19): a proof is background work. At 19 (the default) it also runs in the idle scheduling class: only on a core nothing else wants.", DefaultValueFactory = _ => 19 };
        var json = new Option<bool>("--json") { Description = "Print each proof's record as JSON." };
        var cmd = new Command("prove", "Prove sets restorable: restore each with its chain into scratch, run hard recovery, check every page, compare every table with the backup's digest.")
        {
            set, all, unproven, scratch, maxScratch, nice, json,
        };
        repoOpts.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            if ((r.GetValue(set) is not null ? 1 : 0) + (r.GetValue(all) ? 1 : 0) + (r.GetValue(unproven) ? 1 : 0) > 1)
            {
                r.AddError("Give one of --set ID, --all and --unproven.");
            }
        });
        cmd.SetAction(async (pr, _) =>
        {
            Niceness.LowerProcess(Math.Clamp(pr.GetValue(nice), 0, 19));
            if (pr.GetValue(nice) >= Niceness.Lowest)
            {
                Niceness.IdleProcessFromNowOn();
            }
            using var signals = new Signals();
            var scratchRoot = pr.GetValue(scratch) ?? Path.Combine(Path.GetTempPath(), "blueback-proofs");
            signals.BoundStop(Signals.LowPriorityStopBound, "the proof's scratch directory was removed and nothing was recorded", () => SetProof.RemoveOwnScratch(scratchRoot));
            return await RepositoryCommands.GuardAsync(async () =>
            {
                var ct = signals.Token;
                var repo = await repoOpts.OpenAsync(pr, ct).ConfigureAwait(false);
                var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
                List<Manifest> chosen;
                if (pr.GetValue(set) is { } id)
                {
                    chosen = [SetIds.Resolve(sets, id)];
                }
                else if (pr.GetValue(all))
                {
                    chosen = [.. sets.OrderBy(s => s.Ended)];
                }
                else if (pr.GetValue(unproven))
                {
                    chosen = [];
                    foreach (var s in sets.OrderBy(s => s.Ended))
                    {
                        if (await repo.LastProvedAsync(s.SetId, ct).ConfigureAwait(false) is null)
                        {
                            chosen.Add(s);
                        }
                    }
                }
                else
                {
                    chosen = sets.Count == 0 ? throw new RepositoryException("the repository holds no set to prove.") : [sets.MaxBy(s => s.Ended)!];
                }
                var options = new ProofOptions(scratchRoot, pr.GetValue(maxScratch) is { } mb ? mb << 20 : null);
                int failed = 0;
                foreach (var s in chosen)
                {
                    var line = new ProgressLine(pr.GetValue(json));
                    var progress = new Progress<RestoreProgress>(p =>
                    {
                        if (line.Due)
                        {
                            line.Write(p.Phase is { } phase ? $"prove {s.SetId}: {phase}" : $"prove {s.SetId}: restoring {p.Done / 1048576.0:0}/{p.Total / 1048576.0:0} MiB");
                        }
                    });
                    ProofRecord proof;
                    try
                    {
                        proof = await SetProof.ProveAsync(repo, s.SetId, options, progress, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        line.Done();
                    }
                    failed += proof.Ok ? 0 : 1;
                    if (pr.GetValue(json))
                    {
                        Output.WriteJson(new ProveOutput { Set = s.SetId, Instance = s.Instance, Type = s.Type, Proof = RepositoryListing.Outcome(proof) });
                        continue;
                    }
                    var digest = proof.DigestMatch switch
                    {
                        true => $"{proof.Tables} table(s) match the backup's digest",
                        false => "tables DIFFER from the backup's digest",
                        null => $"{proof.Tables} table(s) read; the set has no digest to compare (take backups with --digest)",
                    };
                    Console.WriteLine($"set {s.SetId} ({s.Instance}, {s.Type}): {(proof.Ok ? "PROVEN" : "FAILED")} in {proof.Seconds:0.0} s: chain of {proof.Chain.Count}, {proof.PagesChecked} pages checked, {proof.Rows} rows; {digest}");
                    foreach (var p in proof.Problems)
                    {
                        Console.WriteLine($"  {p}");
                    }
                }
                if (chosen.Count == 0)
                {
                    Console.WriteLine("No set to prove.");
                }
                return failed == 0 ? Output.Ok : Output.ProblemFound;
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }
}
