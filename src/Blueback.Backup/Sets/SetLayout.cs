using Blueback.Repository;
using Blueback.Storage.Log;

namespace Blueback.Backup;

/// <summary>Where things are inside a backup set: database images under <c>databases/</c>, log generations under
/// <c>logs/</c>. The only place these paths are spelled.</summary>
public static class SetLayout
{
    private const string Databases = "databases/";
    private const string Logs = "logs/";
    private const string ImageExtension = ".bdb";
    private const string ChangedPagesExtension = ".pages";

    public static string DatabasePath(string database) => $"{Databases}{database}{ImageExtension}";

    /// <summary>Where a changed-pages set holds a database's changed pages.</summary>
    public static string ChangedPagesPath(string database) => $"{Databases}{database}{ChangedPagesExtension}";

    public static string LogPath(uint generation) => $"{Logs}{LogFiles.FileName(generation)}";

    /// <summary>A whole database image.</summary>
    public static bool IsDatabase(ManifestFile file) => file.Path.StartsWith(Databases, StringComparison.Ordinal) && file.Path.EndsWith(ImageExtension, StringComparison.Ordinal);

    /// <summary>A database's changed pages (a changed-pages set).</summary>
    public static bool IsChangedPages(ManifestFile file) => file.Path.StartsWith(Databases, StringComparison.Ordinal) && file.Path.EndsWith(ChangedPagesExtension, StringComparison.Ordinal);

    public static bool IsLog(ManifestFile file) => file.Path.StartsWith(Logs, StringComparison.Ordinal);

    /// <summary>The database a <see cref="IsDatabase"/> or <see cref="IsChangedPages"/> file holds pages of.</summary>
    public static string DatabaseName(ManifestFile file) => Path.GetFileNameWithoutExtension(file.Path);

    /// <summary>The generation a <see cref="IsLog"/> file holds; false for a name that is not a generation's.</summary>
    public static bool TryLogGeneration(ManifestFile file, out uint generation) =>
        LogFiles.TryParseGeneration(Path.GetFileName(file.Path), out generation);

    public static IEnumerable<ManifestFile> Images(Manifest set) => set.Files.Where(IsDatabase);

    public static IEnumerable<ManifestFile> ChangedPagesOf(Manifest set) => set.Files.Where(IsChangedPages);

    public static IEnumerable<ManifestFile> LogFilesOf(Manifest set) => set.Files.Where(IsLog);
}
