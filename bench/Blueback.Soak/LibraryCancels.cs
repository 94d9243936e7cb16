using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Blueback.Backup;
using Blueback.Client;
using Blueback.Repository;
using Blueback.Repository.Stores;
using Blueback.Storage.Backup;

namespace Blueback.Soak;

/// <summary>Cancels through the client library, as a backup program's author calls it (no process around it): copy
/// backups (BackupJob) and verifies of a set (SetVerification), each cancelled at a random moment in its first 0.6 s
/// (about what a copy backup of the soak's small instance takes). Each must return within its bound (an
/// OperationCanceledException, or its result when it had finished), leave no session on the server within 5 s (far
/// inside the 60 s lease), and list no set it did not finish. The cheap way to the issue's count of cancels: a
/// program's ^C adds process start-up and exit around the same path.</summary>
internal sealed partial class Rounds
{
    private static readonly TimeSpan LibraryReturnBound = TimeSpan.FromSeconds(10);

    public async Task LibraryCancelsAsync(int count)
    {
        var plan = Enumerable.Range(0, count).Select(_ => (Backup: rng.Next(10) < 7, Delay: rng.NextDouble() * 0.6)).ToList();
        using var client = new BluebackClient(server.Url, timeout: TimeSpan.FromSeconds(30));
        BackupRepository repository;
        try
        {
            repository = await BackupRepository.OpenAsync(new LocalDirectoryStore(repo)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RepositoryException or IOException)
        {
            tally.Violation($"library cancels: the repository does not open: {ex.Message}");
            return;
        }
        foreach (var (backup, delay) in plan)
        {
            using var cts = new CancellationTokenSource();
            var before = (await repository.ListSetsAsync(CancellationToken.None).ConfigureAwait(false)).Select(s => s.SetId).ToHashSet(StringComparer.Ordinal);
            Task work = backup
                ? BackupJob.RunAsync(client, repository, new BackupRequest("store", BackupType.Copy), null, cts.Token)
                : VerifyOneAsync(repository, cts.Token);
            await Task.WhenAny(work, Task.Delay(TimeSpan.FromSeconds(delay))).ConfigureAwait(false);
            var what = backup ? "copy backup (library)" : "verify (library)";
            var sw = Stopwatch.StartNew();
            bool landed = !work.IsCompleted;
            await cts.CancelAsync().ConfigureAwait(false);
            string? failure = null;
            string? stoppedAfterCommit = null;
            try
            {
                await work.WaitAsync(LibraryReturnBound).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (landed)
            {
                // What a cancelled call does (a BackupStoppedAfterCommitException when the set was committed first).
                stoppedAfterCommit = (ex as BackupStoppedAfterCommitException)?.SetId;
            }
            catch (TimeoutException)
            {
                lock (_gate)
                {
                    tally.Hangs++;
                    tally.Violation($"{what} cancelled {delay:0.000} s in did not return within {LibraryReturnBound.TotalSeconds:0} s");
                }
                continue;
            }
            catch (Exception ex) when (ex is BluebackApiException or HttpRequestException or BackupRefusedByRepositoryException && !landed)
            {
                failure = ex.Message; // failed before any cancel: a refusal with its reason (the server restarting, say)
            }
            catch (Exception ex)
            {
                failure = $"{ex.GetType().Name}: {ex.Message}";
                lock (_gate)
                {
                    tally.Violation($"{what} cancelled {delay:0.000} s in failed instead: {failure}");
                }
            }
            var ms = sw.Elapsed.TotalMilliseconds;
            var after = (await repository.ListSetsAsync(CancellationToken.None).ConfigureAwait(false)).Select(s => s.SetId).ToHashSet(StringComparer.Ordinal);
            var sessionLeft = backup ? await SessionLeftAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false) : null;
            lock (_gate)
            {
                tally.Commands++;
                if (!landed)
                {
                    if (failure is not null)
                    {
                        tally.Refusal(what, failure);
                    }
                }
                else
                {
                    tally.LibraryCancels++;
                    tally.ExitTime($"{what} cancel", ms);
                    if (stoppedAfterCommit is not null && !after.Contains(stoppedAfterCommit))
                    {
                        tally.BadSets++;
                        tally.Violation($"{what} cancelled {delay:0.000} s in said set {stoppedAfterCommit} was committed, but it is not listed");
                    }
                    else if (backup && work.IsCanceled && stoppedAfterCommit is null && after.Except(before).Any())
                    {
                        tally.BadSets++;
                        tally.Violation($"{what} cancelled {delay:0.000} s in reported cancelled but left set(s) listed: {string.Join(", ", after.Except(before))}");
                    }
                }
                if (sessionLeft is not null)
                {
                    tally.Violation($"{what} cancelled {delay:0.000} s in: the server still holds session {sessionLeft} 5 s later");
                }
            }
            if (sessionLeft is not null)
            {
                AbortSessions();
            }
        }
    }

    private static async Task VerifyOneAsync(BackupRepository repository, CancellationToken ct)
    {
        var sets = await repository.ListSetsAsync(ct).ConfigureAwait(false);
        if (sets.Count > 0)
        {
            await SetVerification.VerifyAsync(repository, sets[^1], sets, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The id of a backup session the server still holds after <paramref name="bound"/>, or null.</summary>
    private async Task<string?> SessionLeftAsync(TimeSpan bound)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Environment.GetEnvironmentVariable(BluebackClient.TokenVariable));
        var until = Stopwatch.StartNew();
        while (true)
        {
            string? id = null;
            try
            {
                var list = JsonDocument.Parse(await http.GetStringAsync(new Uri("/v1/backups", UriKind.Relative)).ConfigureAwait(false)).RootElement.GetProperty("sessions");
                id = list.EnumerateArray().Select(s => s.GetProperty("id").GetString()).FirstOrDefault();
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
            {
                return null; // the server is restarting: its sessions went with it
            }
            if (id is null || until.Elapsed > bound)
            {
                return id;
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
    }
}
