namespace Blueback.Storage.Backup;

/// <summary>The image of a full backup begun with a page base (<see cref="InstanceBackup.ChangedSince"/>): runs of
/// pages that did not change since the base's first generation can be passed over unread, since the base set holds
/// them as they are now (its images hold every change before that generation). The backup program names those bytes
/// from the base set instead; their checksums are not checked again.</summary>
public interface IUnchangedPages
{
    /// <summary>Whether the next <paramref name="length"/> bytes of the stream are whole data pages (not the header
    /// pages or the trailer) none of which changed since the page base; false when that cannot be known.</summary>
    bool NextUnchanged(int length);

    /// <summary>Passes over the next <paramref name="length"/> bytes without reading them; only where
    /// <see cref="NextUnchanged"/> said so.</summary>
    void SkipUnchanged(int length);
}
