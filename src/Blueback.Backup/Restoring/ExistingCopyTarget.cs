using Blueback.Repository.Chunks;
using Blueback.Storage.Restore;

namespace Blueback.Backup;

/// <summary>The engine's old copy under a delta restore, as the repository's extract asks for it: the two sides each
/// name the idea in their own terms, and this layer, which knows both, joins them. Called once per chunk.</summary>
internal sealed class ExistingCopyTarget(IExistingCopy copy) : IPatchTarget
{
    /// <summary>The target for a destination that is a delta restore's old copy; null for any other.</summary>
    public static ExistingCopyTarget? Of(Stream destination) => destination is IExistingCopy copy ? new(copy) : null;

    public bool TryReadExisting(long offset, Span<byte> into) => copy.TryReadExisting(offset, into);

    public void SkipExisting(int length) => copy.SkipExisting(length);
}
