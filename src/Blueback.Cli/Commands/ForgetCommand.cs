using Blueback.Protocol.Programs;
using Blueback.Protocol;
using System.CommandLine;
using Blueback.Backup;
using Blueback.Repository;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback forget</c>: retention. Decides over the dependency graph which sets to keep, prints why
/// each kept set stays, and forgets the rest (manifests first; their data goes with the next <c>repo gc</c> after
/// the grace period), under the repository's maintenance lock.</summary>
internal static class ForgetCommand
{
    public static Command Build()
    {
        var repo = new RepoOptions();
        var last = new Option<int>("--keep-last") { Description = "Keep the N newest sets (per instance)." };
        var daily = new Option<int>("--keep-daily") { Description = "Keep the newest set of each of the N most recent days that have one." };
        var weekly = new Option<int>("--keep-weekly") { Description = "The same per ISO week." };
        var monthly = new Option<int>("--keep-monthly") { Description = "The same per month." };
        var within = new Option<string?>("--keep-within") { Description = "Keep every set that ended within this long of the instance's newest set (7d, 36h, 2w...)." };
        var instance = new Option<string?>("--instance") { Description = "Only this instance's sets (default: every instance, each on its own)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print what would be forgotten and why each kept set stays; change nothing." };
        var json = new Option<bool>("--json") { Description = "Print the decisions as JSON." };
        var cmd = new Command("forget", "Forget backup sets by a retention policy; a set that a kept set needs is always kept.") { last, daily, weekly, monthly, within, instance, dryRun, json };
        repo.AddTo(cmd);
        cmd.SetAction(async (pr, _) =>
        {
            using var signals = new Signals();
            return await RepositoryCommands.GuardAsync(async () =>
            {
                var policy = new RetentionPolicy
                {
                    KeepLast = pr.GetValue(last),
                    KeepDaily = pr.GetValue(daily),
                    KeepWeekly = pr.GetValue(weekly),
                    KeepMonthly = pr.GetValue(monthly),
                    KeepWithin = pr.GetValue(within) is { } w ? Durations.Parse(w, "--keep-within") : null,
                };
                if (policy.IsEmpty)
                {
                    Console.Error.WriteLine("blueback forget: say what to keep (--keep-last, --keep-daily, --keep-weekly, --keep-monthly or --keep-within); without a rule every set but the newest would go. ('blueback forget --help' lists them.)");
                    return Output.Usage;
                }
                var r = await repo.OpenAsync(pr, signals.Token).ConfigureAwait(false);
                return await RunAsync(r, policy, pr.GetValue(instance), pr.GetValue(dryRun), pr.GetValue(json), signals.Token).ConfigureAwait(false);
            }, signals.Token).ConfigureAwait(false);
        });
        return cmd;
    }

    private static async Task<int> RunAsync(BackupRepository r, RetentionPolicy policy, string? instance, bool dryRun, bool json, CancellationToken ct)
    {
        var plan = await RepositoryMaintenance.ForgetAsync(r, policy, instance, dryRun, ct).ConfigureAwait(false);
        if (json)
        {
            Output.WriteJson(new ForgetOutput
            {
                DryRun = dryRun,
                Kept = [.. plan.Where(d => d.Keep).Select(d => new ForgetEntry { Id = d.Set.SetId, Instance = d.Set.Instance, Type = d.Set.Type, Ended = d.Set.Ended, Reasons = [.. d.Reasons] })],
                Forgotten = [.. plan.Where(d => !d.Keep).Select(d => new ForgetEntry { Id = d.Set.SetId, Instance = d.Set.Instance, Type = d.Set.Type, Ended = d.Set.Ended, Bytes = d.Set.Files.Sum(f => f.Chunks.Sum(c => (long)c.StoredSize)) })],
            });
            return Output.Ok;
        }
        foreach (var d in plan)
        {
            Console.WriteLine($"{(d.Keep ? "keep  " : dryRun ? "would forget" : "forget")} {d.Set.SetId} {d.Set.Instance} {d.Set.Type,-12} {d.Set.Ended:yyyy-MM-dd HH:mm}  {string.Join("; ", d.Reasons)}");
        }
        int gone = plan.Count(d => !d.Keep);
        long bytes = plan.Where(d => !d.Keep).Sum(d => d.Set.Files.Sum(f => f.Chunks.Sum(c => (long)c.StoredSize)));
        Console.WriteLine(dryRun
            ? $"Would forget {gone} of {plan.Count} set(s) ({bytes / 1048576.0:0.0} MiB stored). Nothing was changed (--dry-run)."
            : $"Forgot {gone} of {plan.Count} set(s); 'blueback repo gc' frees their {bytes / 1048576.0:0.0} MiB once the grace period has passed (a restore reading them meanwhile still works).");
        return Output.Ok;
    }
}
