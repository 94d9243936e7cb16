using System.Text.Json;
using Blueback.Protocol;
using Blueback.Protocol.Programs;
using Microsoft.Extensions.Logging;

namespace Blueback.Server.Policies;

/// <summary>Runs one policy job to its end: the repository made first if the policy says so, then the <c>blueback</c>
/// program as a child (the operator's own code path), whose outcome is read from its exit code
/// (<see cref="ExitCodes"/>) and its typed <c>--json</c> output, never from the text it prints. The job's record says
/// the outcome; the runner records it.</summary>
internal sealed class PolicyJobRunner(PolicyHostInfo host, string defaultScratch, ILogger logger)
{
    private static readonly TimeSpan BackupBound = TimeSpan.FromHours(24);
    internal static readonly TimeSpan LightBound = TimeSpan.FromMinutes(10);

    /// <summary>Runs <paramref name="job"/>; returns whether a forget forgot anything (gc follows then). Never throws:
    /// a failure is the job's state and error.</summary>
    public async Task<bool> RunAsync(PolicyLane lane, RunningJob job)
    {
        var info = job.Info;
        var p = lane.Definition;
        try
        {
            if (!lane.RepositoryReady)
            {
                await EnsureRepositoryAsync(p, p.Repository, job.Cancel.Token).ConfigureAwait(false);
                lane.RepositoryReady = true;
            }
            switch (info.Kind)
            {
                case PolicyJobKind.Full or PolicyJobKind.Incremental or PolicyJobKind.Differential:
                    await BackupAsync(p, job).ConfigureAwait(false);
                    return false;
                case PolicyJobKind.Prove:
                    await ProveAsync(p, job).ConfigureAwait(false);
                    return false;
                case PolicyJobKind.Restore:
                    {
                        var r = await ChildProgram.RunAsync(host.Program, PolicyCommands.RestoreAsNew(p, info.Set!, host.Server), host.RestoreEnvironment, BackupBound, null, job.Cancel.Token, host.Busy).ConfigureAwait(false);
                        End(job, r);
                        if (info.State == PolicyJobState.Succeeded)
                        {
                            info.RestoredAs = PolicyCommands.RestoredName(p, info.Set!);
                        }
                        return false;
                    }
                case PolicyJobKind.Verify:
                    {
                        // Exit 1 is damage found: the job fails with the program's own error line; the record beside
                        // the set (what the console's "Verified" shows) is written by the program either way.
                        var r = await ChildAsync(job, PolicyCommands.Verify(p, info.Set!), BackupBound, host.Busy).ConfigureAwait(false);
                        End(job, r);
                        if (r.Exit == ExitCodes.ProblemFound && !r.Stopped)
                        {
                            info.Error = $"set {info.Set} FAILED its verify: {r.Reason}";
                        }
                        return false;
                    }
                case PolicyJobKind.Forget:
                    {
                        var r = await ChildAsync(job, PolicyCommands.Forget(p), LightBound).ConfigureAwait(false);
                        End(job, r);
                        return r.Exit == ExitCodes.Ok && Read(r.Out, ProtocolJson.Default.ForgetOutput).Forgotten.Count > 0;
                    }
                case PolicyJobKind.Gc:
                    End(job, await ChildAsync(job, PolicyCommands.Gc(p), LightBound).ConfigureAwait(false));
                    return false;
                case PolicyJobKind.Copy:
                    await CopyAsync(p, job).ConfigureAwait(false);
                    return false;
                default:
                    throw new InvalidOperationException($"no job kind '{info.Kind.WireName()}'");
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            info.State = job.Cancel.IsCancellationRequested ? PolicyJobState.Cancelled : PolicyJobState.Failed;
            info.Error ??= ex is OperationCanceledException ? "cancelled before it started" : ex.Message;
            return false;
        }
    }

    private async Task BackupAsync(PolicyDefinition p, RunningJob job)
    {
        var info = job.Info;
        var r = await ChildAsync(job, PolicyCommands.Backup(p, info.Kind, host.Server), BackupBound).ConfigureAwait(false);
        var output = TryRead(r.Out, ProtocolJson.Default.BackupOutput); // null when it printed none (it failed before a commit)
        if (r.Exit == ExitCodes.Ok && output is not null)
        {
            info.Set = output.Set;
            info.Bytes = output.Bytes;
            info.Stored = output.Stored;
            info.ChainHead = output.ChainHead;
            info.RateMBps = Math.Round(output.Bytes / 1e6 / Math.Max(output.Seconds, 0.001), 1);
            info.State = PolicyJobState.Succeeded;
        }
        else if (output is { Committed: true })
        {
            // Stopped or failed after its set's commit: the set is listed and restores, so the job made its point (not
            // retried as a failure, nor "no partial set" beside a set that is there); what was left undone is its error.
            info.Set = output.Set;
            var what = output.AfterCommit ?? "";
            info.Error = $"set {info.Set} was committed and is listed, but the backup {(what == "stopped" ? "was stopped after its commit" : $"failed after its commit ({what.TrimEnd('.', ' ')})")}; the server's logs were not truncated (the next backup truncates them)";
            info.State = PolicyJobState.Succeeded;
        }
        else
        {
            End(job, r, failed: r.Exit == ExitCodes.Ok);
            if (r.Exit == ExitCodes.Ok)
            {
                info.Error = "the backup program exited 0 without its result (its --json output could not be read)";
            }
        }
    }

    /// <summary>Copies into the second repository what it lacks (made first, if the policy says so).</summary>
    private async Task CopyAsync(PolicyDefinition p, RunningJob job)
    {
        await EnsureRepositoryAsync(p, p.CopyTo!, job.Cancel.Token).ConfigureAwait(false);
        var r = await ChildAsync(job, PolicyCommands.Copy(p), BackupBound).ConfigureAwait(false);
        if (r.Exit == ExitCodes.Ok && TryRead(r.Out, ProtocolJson.Default.CopyOutput) is { } output)
        {
            job.Info.Bytes = output.Bytes;
            job.Info.Stored = output.Stored;
            job.Info.RateMBps = Math.Round(output.Bytes / 1e6 / Math.Max(output.Seconds, 0.001), 1);
        }
        End(job, r);
    }

    private async Task ProveAsync(PolicyDefinition p, RunningJob job)
    {
        var info = job.Info;
        var r = await ChildAsync(job, PolicyCommands.Prove(p, info.Set!, p.Prove.Scratch ?? defaultScratch), BackupBound, host.Busy).ConfigureAwait(false);
        if (r.Exit == ExitCodes.NotFound && !r.Stopped)
        {
            // Retention forgot the set before its proof came up: nothing to prove, nothing wrong.
            info.State = PolicyJobState.Skipped;
            info.Error = $"set {info.Set} no longer exists in the repository: retention forgot it before its proof ran";
            return;
        }
        if (r.Exit is ExitCodes.Ok or ExitCodes.ProblemFound && !r.Stopped)
        {
            var proof = Read(r.Out, ProtocolJson.Default.ProveOutput).Proof;
            info.ProofOk = proof.Ok;
            info.DigestMatch = proof.DigestMatch;
            if (!proof.Ok)
            {
                info.Error = $"set {info.Set} failed its proof: {string.Join("; ", proof.Problems.Take(3))}";
                logger.LogError("Policy {Policy}: PROOF FAILED for set {Set}: {Error}", p.Name, info.Set, info.Error);
            }
        }
        End(job, r, failed: info.ProofOk == false);
    }

    /// <summary>The repository exists (or is made, if the policy says so) before the first job uses it.</summary>
    private async Task EnsureRepositoryAsync(PolicyDefinition p, PolicyRepository repository, CancellationToken ct)
    {
        bool exists;
        using (var bound = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            bound.CancelAfter(LightBound);
            try
            {
                exists = await PolicyRepositories.ExistsAsync(repository, bound.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException and not OperationCanceledException)
            {
                throw new InvalidOperationException($"the repository '{repository.Location}' cannot be read: {ex.Message}", ex);
            }
        }
        if (exists)
        {
            return;
        }
        if (!repository.Create)
        {
            throw new InvalidOperationException($"the repository '{repository.Location}' does not exist, and the policy does not create it (\"create\": false): make it with 'blueback repo init'.");
        }
        var init = await ChildProgram.RunAsync(host.Program, PolicyCommands.Init(repository), host.ChildEnvironment, LightBound, null, ct).ConfigureAwait(false);
        if (init.Exit != ExitCodes.Ok)
        {
            ct.ThrowIfCancellationRequested();
            throw new InvalidOperationException($"the repository '{repository.Location}' does not exist and could not be created: {init.Reason}");
        }
        logger.LogInformation("Policy {Policy}: created repository {Repository}.", p.Name, repository.Location);
    }

    private Task<ChildResult> ChildAsync(RunningJob job, List<string> args, TimeSpan bound, Func<bool>? busy = null) =>
        ChildProgram.RunAsync(host.Program, args, host.ChildEnvironment, bound, null, job.Cancel.Token, busy);

    /// <summary>The job's state from its program's exit: cancelled (stopped by the job's cancel), failed (any exit
    /// but 0, or <paramref name="failed"/>), succeeded.</summary>
    private static void End(RunningJob job, ChildResult r, bool failed = false)
    {
        var info = job.Info;
        if (r.Stopped && job.Cancel.IsCancellationRequested)
        {
            info.State = PolicyJobState.Cancelled;
            info.Error ??= "stopped before it ended; no partial set is listed";
        }
        else if (r.Exit != ExitCodes.Ok || failed)
        {
            info.State = PolicyJobState.Failed;
            info.Error ??= r.Reason;
        }
        else
        {
            info.State = PolicyJobState.Succeeded;
        }
    }

    private static T Read<T>(string output, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(output, type) ?? throw new JsonException($"the program printed no {typeof(T).Name}");

    private static T? TryRead<T>(string output, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(output, type);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
