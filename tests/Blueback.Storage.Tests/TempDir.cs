namespace Blueback.Storage.Tests;

/// <summary>A scratch directory removed at the end of a test.</summary>
public sealed class TempDir : IDisposable
{
    /// <param name="prefix">The start of the directory's name.</param>
    /// <param name="under">Where it is made: the system's temp directory unless given (a mounted file system in the
    /// file-system tests).</param>
    public TempDir(string? prefix = null, string? under = null)
    {
        Path = System.IO.Path.Combine(under ?? System.IO.Path.GetTempPath(), $"bb-{prefix ?? "t"}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A test that failed may still hold a file open; the OS temp cleanup takes it later.
        }
    }
}
