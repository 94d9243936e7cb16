namespace Blueback.Storage.Restore;

/// <summary>The old copy a delta restore writes over (<see cref="DeltaPatch"/>): a reader that knows where chunks
/// fall may compare a chunk's bytes with it, and skip a chunk it already holds. The repository's own notion of this
/// (Repository/Chunks/IPatchTarget.cs) is joined to it in the backup program, which knows both.</summary>
public interface IExistingCopy
{
    /// <summary>Reads the bytes at <paramref name="offset"/> in the existing copy; false when it does not hold them all.</summary>
    bool TryReadExisting(long offset, Span<byte> into);

    /// <summary>The next <paramref name="length"/> bytes are already right: move past them.</summary>
    void SkipExisting(int length);
}
