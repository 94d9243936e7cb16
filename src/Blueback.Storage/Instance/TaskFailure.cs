using System.Runtime.ExceptionServices;

namespace Blueback.Storage;

internal static class TaskFailure
{
    /// <summary>Waits at most <paramref name="timeout"/>. Returns false on timeout; rethrows the task's own
    /// exception if it failed (Task.Wait would wrap it in an AggregateException).</summary>
    public static bool WaitBounded(Task task, TimeSpan timeout, CancellationToken cancellationToken)
    {
        bool done;
        try
        {
            done = task.Wait(timeout, cancellationToken);
        }
        catch (AggregateException)
        {
            done = true; // the task failed: rethrown below with its own type and stack
        }
        if (done)
        {
            RethrowIfFaulted(task);
        }
        return done;
    }

    /// <summary>For a task already waited on with a bound: rethrows its own exception, not an AggregateException.</summary>
    public static void RethrowIfFaulted(Task completed)
    {
        if (completed.IsFaulted && completed.Exception?.InnerException is { } inner)
        {
            ExceptionDispatchInfo.Capture(inner).Throw();
        }
        if (completed.IsCanceled)
        {
            throw new OperationCanceledException();
        }
    }
}
