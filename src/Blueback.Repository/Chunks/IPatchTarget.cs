namespace Blueback.Repository.Chunks;

/// <summary>A destination that already holds an older copy of what is being written (a delta restore): a chunk whose
/// bytes are already there in place is skipped instead of fetched and written. The engine's delta restore is one
/// (Storage/Restore/IExistingCopy.cs, joined to this by Backup/Restoring/ExistingCopyTarget.cs).</summary>
public interface IPatchTarget
{
    /// <summary>Reads the bytes at <paramref name="offset"/> in the existing copy; false when it does not hold them all.</summary>
    bool TryReadExisting(long offset, Span<byte> into);

    /// <summary>The next <paramref name="length"/> bytes are already right: move past them.</summary>
    void SkipExisting(int length);
}
