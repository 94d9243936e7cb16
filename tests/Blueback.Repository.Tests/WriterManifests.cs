namespace Blueback.Repository.Tests;

/// <summary>Tests commit sets by hand: the manifest they give names what the writer wrote, as the backup library's
/// manifest builder does.</summary>
internal static class WriterManifests
{
    public static Manifest Describing(this BackupSetWriter writer, Manifest m)
    {
        m.RepositoryId = writer.RepositoryId;
        m.SetId = writer.SetId;
        m.Codec = writer.CodecName;
        m.Files = [.. writer.Files];
        return m;
    }
}
