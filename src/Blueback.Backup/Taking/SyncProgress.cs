namespace Blueback.Backup;

/// <summary>An <see cref="IProgress{T}"/> that calls its action at once on the reporting thread (the framework's
/// <see cref="Progress{T}"/> posts to the thread pool, so reports could arrive out of order or after the work).
/// The action must be quick and must not throw.</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
