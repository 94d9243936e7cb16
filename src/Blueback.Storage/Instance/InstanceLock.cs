namespace Blueback.Storage;

/// <summary>One process at a time per instance directory: an exclusive lock on <c>instance.lock</c>, held while the
/// instance is open and while a restore writes into the directory. The operating system drops it when the
/// process dies, so a crash never leaves the directory locked.</summary>
public static class InstanceLock
{
    public const string FileName = "instance.lock";

    public static IDisposable Acquire(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new StorageException($"Instance directory '{directory}' is in use by another process or another open instance (it holds '{path}' locked). Stop the server that hosts it, or wait for the restore that writes into it, then try again.", ex);
        }
    }
}
