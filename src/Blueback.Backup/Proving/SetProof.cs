using System.Diagnostics;
using Blueback.Repository;
using Blueback.Storage;
using Blueback.Storage.Diagnostics;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

/// <summary>Where a proof restores, and how much disk it may take there.</summary>
/// <param name="ScratchRoot">A directory the proof makes its scratch directory in (and removes it from after).</param>
/// <param name="MaxScratchBytes">The most the restored chain may take; null: what the volume has free, less a reserve.</param>
public sealed record ProofOptions(string ScratchRoot, long? MaxScratchBytes = null);

/// <summary>The proof refused to start (no room for the restore): not a verdict on the set.</summary>
public sealed class ProofRefusedException(string message) : BackupProgramException(message);

/// <summary>Proves a set restorable the only way that counts: its chain restored into a scratch directory, hard recovery
/// run, every page of every database checked, and every table's digest compared with the one the backup took at the
/// end of its log range. The outcome is recorded beside the set (what <c>list</c> shows); the scratch is removed.</summary>
public static class SetProof
{
    /// <summary>Kept free on the scratch volume beyond the restore's own size.</summary>
    private const long Reserve = 256L << 20;

    public static async Task<ProofRecord> ProveAsync(BackupRepository repo, string setId, ProofOptions options, IProgress<RestoreProgress>? progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var sets = await repo.ListSetsAsync(ct).ConfigureAwait(false);
        var set = SetIds.Resolve(sets, setId);
        var proof = new ProofRecord { Time = DateTime.UtcNow };
        List<Manifest> chain;
        try
        {
            chain = ChainResolver.ChainOf(set, sets);
        }
        catch (ChainBrokenException ex)
        {
            return await RecordAsync(repo, set, proof, clock, [$"set {setId}: {ex.Message}"], ct).ConfigureAwait(false);
        }
        proof.Chain = chain.Select(s => s.SetId).ToList();
        long need = chain.Sum(s => s.Files.Sum(f => f.Size));
        Directory.CreateDirectory(options.ScratchRoot);
        RemoveStale(options.ScratchRoot);
        long free = new DriveInfo(Path.GetFullPath(options.ScratchRoot)).AvailableFreeSpace;
        if (need + Reserve > free || need > (options.MaxScratchBytes ?? long.MaxValue))
        {
            throw new ProofRefusedException($"proving set {setId} restores {need / 1048576.0:0.0} MiB into '{options.ScratchRoot}', which has {free / 1048576.0:0.0} MiB free{(options.MaxScratchBytes is { } max ? $" and a limit of {max / 1048576.0:0.0} MiB" : "")} (and {Reserve >> 20} MiB are kept free): give a scratch directory on a volume with room.");
        }
        var scratch = Path.Combine(options.ScratchRoot, $"proof-{setId}-{Environment.ProcessId}");
        var problems = new List<string>();
        try
        {
            try
            {
                await RestoreJob.ToDirectoryAsync(repo, chain, scratch, set.Instance, replace: true, new RestoreOptions(), progress, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is StorageException or RepositoryException or InvalidDataException)
            {
                problems.Add($"the restore of {RestorePlanner.Describe(chain)} failed: {ex.Message}");
                return await RecordAsync(repo, set, proof, clock, problems, ct).ConfigureAwait(false);
            }
            var dir = Path.Combine(scratch, set.Instance);
            progress?.Report(new RestoreProgress(null, 0, 0, "checking every page of the restored databases"));
            foreach (var file in Directory.GetFiles(dir, "*" + StorageInstance.DatabaseExtension).Order(StringComparer.Ordinal))
            {
                var report = DatabaseCheck.Checksum(file, cancellationToken: ct);
                proof.PagesChecked += report.Pages;
                problems.AddRange(report.Bad.Take(10).Select(b => $"{Path.GetFileName(file)} page {b.Page}: {b.Problem} ({b.Detail}) after restore and recovery"));
            }
            progress?.Report(new RestoreProgress(null, 0, 0, "comparing every table with the backup's digest"));
            List<TableDigest> found;
            using (var inst = StorageInstance.Open(dir, new InstanceOptions()))
            using (var read = inst.BeginRead())
            {
                found = TableDigests.Compute(read, inst.Databases, ct);
            }
            proof.Tables = found.Count;
            proof.Rows = found.Sum(t => t.Rows);
            if (set.TableDigests is { } expected)
            {
                var differences = TableDigests.Compare(expected.Select(d => new TableDigest(d.Database, d.Table, d.Rows, d.Sha256)).ToList(), found);
                proof.DigestMatch = differences.Count == 0;
                problems.AddRange(differences);
            }
            return await RecordAsync(repo, set, proof, clock, problems, ct).ConfigureAwait(false);
        }
        finally
        {
            TryDelete(scratch);
        }
    }

    private static async Task<ProofRecord> RecordAsync(BackupRepository repo, Manifest set, ProofRecord proof, Stopwatch clock, List<string> problems, CancellationToken ct)
    {
        proof.Problems = problems;
        proof.Ok = problems.Count == 0;
        proof.Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3);
        await repo.RecordProvedAsync(set.SetId, proof, ct).ConfigureAwait(false);
        return proof;
    }

    /// <summary>This process's scratch directories under <paramref name="root"/>: what a stop that cannot wait for the
    /// proof's own cleanup removes.</summary>
    public static void RemoveOwnScratch(string root)
    {
        if (Directory.Exists(root))
        {
            foreach (var dir in Directory.EnumerateDirectories(root, $"proof-*-{Environment.ProcessId}"))
            {
                TryDelete(dir);
            }
        }
    }

    /// <summary>Scratch directories of proofs whose process is gone (killed mid-proof).</summary>
    private static void RemoveStale(string root)
    {
        foreach (var dir in Directory.EnumerateDirectories(root, "proof-*"))
        {
            // Only names a proof makes (proof-SETID-PID): the scratch root may be shared with other things.
            var parts = Path.GetFileName(dir).Split('-');
            if (parts.Length == 3 && parts[1].Length == 32 && parts[1].All(char.IsAsciiHexDigitLower)
                && int.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid) && pid != Environment.ProcessId && !IsAlive(pid))
            {
                TryDelete(dir);
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void TryDelete(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // left for the next proof's sweep
        }
    }
}
