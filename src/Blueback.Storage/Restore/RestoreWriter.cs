using System.Security.Cryptography;
using Blueback.IO;
using Blueback.Storage.Log;

namespace Blueback.Storage.Restore;

/// <summary>Puts a restore's files into an instance directory under its restore record: prepares the directory,
/// writes each database image and log generation (hashed, flushed, renamed into place only when whole), describes
/// each image from its trailer, and checks at the end that everything belongs to one log stream. The offline
/// restore and the server's restore sessions both write through it, so both leave the same directory that hard
/// recovery then works on. Holds the instance lock until disposed.</summary>
public sealed class RestoreWriter : IDisposable
{
    private readonly IDisposable _lock;
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);
    /// <summary>The stores of a mount's images (<see cref="RecordImage(string, Paging.IPageStores)"/>); null: files.</summary>
    private Paging.IPageStores? _stores;

    private RestoreWriter(string dir, RestoreRecord record, IDisposable instanceLock)
    {
        Directory = dir;
        Record = record;
        _lock = instanceLock;
    }

    public string Directory { get; }
    public RestoreRecord Record { get; }
    public string LogDirectory => Path.Combine(Directory, StorageInstance.LogDirectoryName);

    /// <summary>Locks and prepares <paramref name="instanceDirectory"/> (see <see cref="RestoreTarget.Prepare"/>) and
    /// writes the record: from here an interruption is visible and the instance will not open.</summary>
    public static RestoreWriter Begin(string instanceDirectory, RestoreRecord record, bool replace, bool keepDatabases = false)
    {
        var dir = Path.GetFullPath(instanceDirectory);
        System.IO.Directory.CreateDirectory(dir);
        var held = InstanceLock.Acquire(dir);
        try
        {
            RestoreTarget.Prepare(dir, replace, keepDatabases);
            System.IO.Directory.CreateDirectory(Path.Combine(dir, StorageInstance.LogDirectoryName));
            record.Status = RestoreStatus.NotStarted;
            record.Databases.Clear();
            record.Write(dir);
            return new RestoreWriter(dir, record, held);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <summary>Writes the image of database <paramref name="name"/> (file NAME.bdb) and records its trailer's facts.</summary>
    /// <param name="expectedSha256">The file's SHA-256, checked against the bytes received (null: the caller checks);
    /// with <paramref name="check"/>, that digest (the repository's chunk digest) instead.</param>
    public async Task WriteDatabaseAsync(string name, long size, string? expectedSha256, Func<Stream, CancellationToken, Task> copy, CancellationToken cancellationToken, IContentCheck? check = null)
    {
        if (!IsPlainName(name))
        {
            throw new RestoreException($"'{name}' is not a database name (1 to 64 letters, digits, '-', '_', '.', not starting with '.').");
        }
        var fileName = name + StorageInstance.DatabaseExtension;
        if (Record.Databases.Any(d => d.Name == name))
        {
            throw new RestoreException($"The image of database '{name}' was already written in this restore.");
        }
        var path = Path.Combine(Directory, fileName);
        await WriteFileAsync(path, size, expectedSha256, check, copy, cancellationToken).ConfigureAwait(false);
        RecordImage(name, path);
    }

    /// <summary>Records the image of database <paramref name="name"/> that <paramref name="stores"/> holds in place of
    /// a file (a mounted backup set's, read from the repository as it is used): nothing is written.</summary>
    public void RecordImage(string name, Paging.IPageStores stores)
    {
        _stores ??= stores; // a mount: the changed pages of later sets go into the same stores (their overlays)
        RecordImage(name, Path.Combine(Directory, name + StorageInstance.DatabaseExtension), stores);
    }

    /// <summary>Describes a database image now in place and adds it to the record.</summary>
    private void RecordImage(string name, string path, Paging.IPageStores? stores = null)
    {
        var fileName = Path.GetFileName(path);
        RestoredDatabase db;
        Format.Signature logSignature;
        try
        {
            db = RestoreTarget.DescribeImage(Directory, fileName, name, out logSignature, stores);
        }
        catch (Exception ex) when (ex is StorageException or IOException)
        {
            File.Delete(path); // not counted as written, so not left behind
            throw ex as RestoreException ?? new RestoreException($"'{path}' is not a database image ({ex.Message}). Restore it from a set that 'blueback verify' passes.");
        }
        if (Record.Databases.Count > 0 && Record.LogSignature != logSignature)
        {
            throw new RestoreException($"The image of database '{name}' belongs to log stream {logSignature}, the images before it to {Record.LogSignature}: they come from different instances. Restore one instance's sets.");
        }
        Record.LogSignature = logSignature;
        Record.Databases.Add(db);
        Record.Write(Directory);
    }

    /// <summary>A delta restore of database <paramref name="name"/>: the file already in the directory (an older or
    /// damaged copy) is brought to the image page by page, rewriting only the pages that differ; without one, the
    /// image is written whole. Then described and recorded like <see cref="WriteDatabaseAsync"/>.</summary>
    public async Task<DeltaReport> PatchDatabaseAsync(string name, long size, int pageSize, Func<Stream, CancellationToken, Task> copy, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Directory, name + StorageInstance.DatabaseExtension);
        if (!IsPlainName(name) || !File.Exists(path) || pageSize <= 0)
        {
            await WriteDatabaseAsync(name, size, null, copy, cancellationToken).ConfigureAwait(false);
            return new DeltaReport(name, size / Math.Max(pageSize, 1), size / Math.Max(pageSize, 1), 0, WholeFile: true);
        }
        DeltaReport report;
        using (var patch = new DeltaPatch(path, pageSize))
        {
            await copy(patch, cancellationToken).ConfigureAwait(false);
            if (patch.Written != size)
            {
                throw new RestoreException($"'{path}' received {patch.Written:N0} bytes, {size:N0} were announced: the transfer was cut short. Run the restore again (without --delta: the copy is partly patched).");
            }
            patch.Complete();
            report = new DeltaReport(name, patch.PagesCompared, patch.Rewritten, patch.Damaged, WholeFile: false);
        }
        RecordImage(name, path);
        return report;
    }

    /// <summary>Lays the changed pages of a later set of the chain over the image of database <paramref name="name"/>
    /// written before (see <see cref="ChangedPagesApply"/>), checking the bytes received against the manifest's digest,
    /// then describes the image again: its trailer is now the later set's. Returns the pages written.</summary>
    public async Task<long> ApplyChangedPagesAsync(string name, long size, string? expectedDigest, Func<Stream, CancellationToken, Task> copy, CancellationToken cancellationToken, IContentCheck? check = null)
    {
        var path = Path.Combine(Directory, name + StorageInstance.DatabaseExtension);
        if (!IsPlainName(name) || Record.Databases.All(d => d.Name != name) || !Paging.DatabaseFile.Exists(path, _stores))
        {
            throw new RestoreException($"The changed pages of database '{name}' need its image from an earlier set of the chain, which this restore has not written. Restore the whole chain (its full set first).");
        }
        int pageSize;
        using (var existing = Paging.DatabaseFile.Open(path, writable: false, _stores))
        {
            pageSize = existing.PageSize;
        }
        Paging.IPageStore? store = null;
        if (_stores is null || !_stores.TryOpen(path, writable: true, out store))
        {
            store = new Paging.FilePageStore(File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None), path);
        }
        long written;
        using (var apply = new ChangedPagesApply(store!, path, pageSize))
        {
            using var hash = expectedDigest is null ? null : new ContentHasher(check);
            await copy(new HashingStream(apply, hash), cancellationToken).ConfigureAwait(false);
            if (apply.Written != size)
            {
                throw new RestoreException($"The changed pages of database '{name}' arrived as {apply.Written:N0} bytes, {size:N0} were announced: the transfer was cut short. Run the restore again.");
            }
            if (hash is not null && hash.Finish() is var actual && actual != expectedDigest)
            {
                throw new RestoreException($"The changed pages of database '{name}' do not have the digest the set's manifest gives ({actual}, expected {expectedDigest}): they were damaged on the way. Run the restore again; if it repeats, run 'blueback verify' on the set.");
            }
            apply.Complete();
            written = apply.PagesWritten;
        }
        Record.Databases.RemoveAll(d => d.Name == name);
        RecordImage(name, path, _stores);
        return written;
    }

    /// <summary>Writes log generation <paramref name="generation"/>, replacing a live copy kept by a replace only once
    /// the new copy is whole. False when this restore already wrote it (overlapping sets of a chain).</summary>
    public async Task<bool> WriteLogAsync(uint generation, long size, string? expectedSha256, Func<Stream, CancellationToken, Task> copy, CancellationToken cancellationToken, IContentCheck? check = null)
    {
        var path = LogFiles.PathOf(LogDirectory, generation);
        if (!_written.Add(path))
        {
            return false;
        }
        try
        {
            await WriteFileAsync(path, size, expectedSha256, check, copy, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _written.Remove(path); // not written: an upload sent again must be taken, not skipped as done
            throw;
        }
        return true;
    }

    /// <summary>True when log generation <paramref name="generation"/> is already in place with this content (its
    /// SHA-256, or with <paramref name="check"/> that digest).</summary>
    public async Task<bool> HasLogAsync(uint generation, long size, string digest, CancellationToken cancellationToken, IContentCheck? check = null)
    {
        var path = LogFiles.PathOf(LogDirectory, generation);
        return File.Exists(path) && new FileInfo(path).Length == size && await HashAsync(path, check, cancellationToken).ConfigureAwait(false) == digest;
    }

    /// <summary>Every file is in place: makes the names durable and checks the whole.</summary>
    public void Complete()
    {
        RestoreTarget.SyncDirectories(Directory);
        if (Record.Databases.Count == 0)
        {
            throw new RestoreException($"The restore into '{Directory}' received no database image: there is nothing to recover. A set's images come from its full set.");
        }
        Record.Write(Directory);
    }

    /// <summary>Records that writing failed or was stopped, so the directory says what happened.</summary>
    public void Fail(string error)
    {
        Record.Status = RestoreStatus.Failed;
        Record.Error = error;
        Record.Write(Directory);
    }

    public void Dispose() => _lock.Dispose();

    private static async Task WriteFileAsync(string path, long size, string? expectedSha256, IContentCheck? check, Func<Stream, CancellationToken, Task> copy, CancellationToken ct)
    {
        var temp = path + ".part";
        try
        {
            // Around the page cache (DirectFileStream): a restore writes gigabytes once, and filling fresh cache pages
            // costs more than the disk here. Replay, which reads these pages next, has them read ahead into the
            // cache by its prefetcher (ReplayPrefetcher).
            using (var file = DirectFileStream.Create(temp, size))
            {
                using var hash = expectedSha256 is null ? null : new ContentHasher(check);
                await using (var sink = new HashingStream(file, hash))
                {
                    await copy(sink, ct).ConfigureAwait(false);
                    if (file.Written != size)
                    {
                        throw new RestoreException($"'{path}' received {file.Written:N0} bytes, {size:N0} were announced: the transfer was cut short. Run the restore again.");
                    }
                }
                if (hash is not null && hash.Finish() is var actual && actual != expectedSha256)
                {
                    throw new RestoreException($"'{path}' does not have the {(check?.Name ?? "SHA-256")} the set's manifest gives ({actual ?? "fewer bytes than its chunks"}, expected {expectedSha256}): it was damaged on the way. Run the restore again; if it repeats, run 'blueback verify' on the set.");
                }
                file.Complete();
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    private static async Task<string?> HashAsync(string path, IContentCheck? check, CancellationToken ct)
    {
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        if (check is null)
        {
            return Convert.ToHexStringLower(await SHA256.HashDataAsync(fs, ct).ConfigureAwait(false));
        }
        using var digest = check.Start();
        var buffer = new byte[1 << 20];
        int n;
        while ((n = await fs.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            digest.Append(buffer.AsSpan(0, n));
        }
        return digest.Finish();
    }

    /// <summary>The check of a restored file's bytes: a flat SHA-256, or the caller's digest (the repository's chunk digest).</summary>
    private sealed class ContentHasher(IContentCheck? check) : IDisposable
    {
        private readonly IncrementalHash? _sha = check is null ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        private readonly IContentDigest? _chunks = check?.Start();

        public void AppendData(ReadOnlySpan<byte> data)
        {
            if (_sha is not null)
            {
                _sha.AppendData(data);
            }
            else
            {
                _chunks!.Append(data);
            }
        }

        public string? Finish() => _sha is not null ? Convert.ToHexStringLower(_sha.GetHashAndReset()) : _chunks!.Finish();

        public void Dispose()
        {
            _sha?.Dispose();
            _chunks?.Dispose();
        }
    }

    private static bool IsPlainName(string name) =>
        name.Length is > 0 and <= 64 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>A write-only stream that (optionally) hashes what passes through to another (the file, or the
    /// application of changed pages); disposing it leaves that one open for the completion that follows.</summary>
    private sealed class HashingStream(Stream inner, ContentHasher? hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Length; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash?.AppendData(buffer);
            inner.Write(buffer);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            hash?.AppendData(buffer.Span);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
