using Blueback.Repository;
using Blueback.Storage.Diagnostics;
using Blueback.Storage.Format;

namespace Blueback.Backup;

/// <summary>Everything <c>verify</c> checks for one set: every chunk's CRC32C and each file's SHA-256 (the
/// repository's <see cref="SetVerifier"/>), every page of every database image at its position, every log
/// generation whole (header, records, end, signature, contiguity), and the set's link in its chain.</summary>
public static class SetVerification
{
    public static async Task<List<string>> VerifyAsync(BackupRepository repo, Manifest set, IReadOnlyList<Manifest> sets, CancellationToken ct)
    {
        var logs = new LogCopies(set);
        var pages = new ImagePages();
        var changed = new ChangedPagesCheck(set);
        var problems = await SetVerifier.VerifyAsync(repo, set, (file, raw, offset, found) =>
        {
            if (SetLayout.IsLog(file))
            {
                logs.Add(file, raw, offset, found);
            }
            else if (SetLayout.IsDatabase(file))
            {
                pages.Check(file, raw.Span, offset, found);
            }
            else if (SetLayout.IsChangedPages(file))
            {
                changed.Check(file, raw.Span, offset, found);
            }
            return Task.CompletedTask;
        }, ct).ConfigureAwait(false);
        if (set.Type != BackupRepository.ShippedType && ChainResolver.Problem(set, sets) is { } chain)
        {
            problems.Add(chain);
        }
        else if (ChainResolver.IsPageSet(set))
        {
            // The composition a restore would make, checked without restoring: each database's whole image and every
            // later set's changed pages of it are there.
            try
            {
                RestoreJob.PagePlan.Of(ChainResolver.ChainOf(set, sets));
            }
            catch (Exception ex) when (ex is RestorePlanException or ChainBrokenException)
            {
                problems.Add($"set {set.SetId}: {ex.Message}");
            }
        }
        return problems;
    }

    /// <summary>Verifies the set and records the outcome beside it (what <c>list</c> shows as "verified").</summary>
    public static async Task<List<string>> VerifyAndRecordAsync(BackupRepository repo, Manifest set, IReadOnlyList<Manifest> sets, CancellationToken ct)
    {
        var problems = await VerifyAsync(repo, set, sets, ct).ConfigureAwait(false);
        await repo.RecordVerifiedAsync(set.SetId, problems.Count == 0, problems.Count, ct).ConfigureAwait(false);
        return problems;
    }

    /// <summary>Every page inside a database image verifies at its position (chunks hold whole pages); the page size
    /// comes from each image's header page, the first chunk of that file.</summary>
    private sealed class ImagePages
    {
        private readonly Dictionary<string, int> _pageSizes = new(StringComparer.Ordinal);

        public void Check(ManifestFile file, ReadOnlySpan<byte> span, long offset, List<string> problems)
        {
            if (offset == 0)
            {
                _pageSizes[file.Path] = PageVerification.ImagePageSize(span);
            }
            int pageSize = _pageSizes.GetValueOrDefault(file.Path);
            if (pageSize == 0)
            {
                if (offset == 0)
                {
                    problems.Add($"file {file.Path}: not a database image (no header page)");
                }
                return;
            }
            for (int at = 0; at + pageSize <= span.Length; at += pageSize)
            {
                uint page = (uint)((offset + at) / pageSize);
                if (PageVerification.Problem(span.Slice(at, pageSize), page) is { } what)
                {
                    problems.Add($"file {file.Path}: page {page} {what}");
                }
            }
        }
    }

    /// <summary>Each changed-pages file read as a restore would apply it (<see cref="ChangedPagesReader"/>): header
    /// pages, map, every page checked at its own number, the trailer, which must name the set's database and generation.</summary>
    private sealed class ChangedPagesCheck(Manifest set)
    {
        private readonly Dictionary<string, ChangedPagesReader?> _readers = new(StringComparer.Ordinal);

        public void Check(ManifestFile file, ReadOnlySpan<byte> span, long offset, List<string> problems)
        {
            if (offset == 0)
            {
                int pageSize = PageVerification.ImagePageSize(span);
                _readers[file.Path] = pageSize == 0 ? null : new ChangedPagesReader(pageSize);
                if (pageSize == 0)
                {
                    problems.Add($"set {set.SetId}, file {file.Path}: not a changed-pages image (no header page)");
                }
            }
            if (_readers.GetValueOrDefault(file.Path) is not { } reader)
            {
                return;
            }
            try
            {
                for (int at = 0; at + reader.PageSize <= span.Length; at += reader.PageSize)
                {
                    reader.Take(span.Slice(at, reader.PageSize), out _, out _);
                }
            }
            catch (ChangedPagesFormatException ex)
            {
                problems.Add($"set {set.SetId}, file {file.Path}: {ex.Message}");
                _readers[file.Path] = null;
                return;
            }
            if (offset + span.Length < file.Size)
            {
                return;
            }
            var name = SetLayout.DatabaseName(file);
            if (reader.Trailer is not { } t)
            {
                problems.Add($"set {set.SetId}, file {file.Path}: ends before its trailer");
            }
            else if (set.Databases.FirstOrDefault(d => d.Name == name) is not { } db || db.Signature != t.DatabaseSignature.Id.ToString("N") || t.GenLow != set.GenLow)
            {
                problems.Add($"set {set.SetId}, file {file.Path}: its trailer names database {t.DatabaseSignature.Id:N} from generation {t.GenLow}, not the set's database '{name}' from generation {set.GenLow}");
            }
        }
    }

    /// <summary>Each log generation in a set, reassembled one at a time (a generation's size at most): checked whole
    /// (header, records, end record), its signature against the set's, and chained to the one before it.</summary>
    private sealed class LogCopies(Manifest manifest)
    {
        private MemoryStream? _current;
        private long _previousCreated;
        private uint _previousGeneration;

        public void Add(ManifestFile file, ReadOnlyMemory<byte> raw, long offset, List<string> problems)
        {
            if (offset == 0)
            {
                _current = new MemoryStream((int)Math.Min(file.Size, int.MaxValue));
            }
            _current!.Write(raw.Span);
            if (offset + raw.Length < file.Size)
            {
                return;
            }
            if (!SetLayout.TryLogGeneration(file, out uint generation))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: not a log generation's name");
                return;
            }
            var check = LogCheck.VerifyCopy(_current.ToArray(), $"{manifest.SetId}/{file.Path}", generation);
            _current = null;
            if (check.Problem is not null)
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: {check.Problem}");
                return;
            }
            if (!string.Equals(check.LogSignatureId, manifest.LogSignature, StringComparison.Ordinal))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: belongs to log stream {check.LogSignatureId}, not the set's {manifest.LogSignature}");
            }
            if (_previousGeneration != 0 && (generation != _previousGeneration + 1 || check.PreviousCreatedTicks != _previousCreated))
            {
                problems.Add($"set {manifest.SetId}, file {file.Path}: does not follow generation {_previousGeneration} (not contiguous)");
            }
            _previousGeneration = generation;
            _previousCreated = check.CreatedTicks;
        }
    }
}
