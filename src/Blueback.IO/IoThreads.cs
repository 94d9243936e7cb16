using System.Collections.Concurrent;

namespace Blueback.IO;

/// <summary>A fixed set of dedicated threads for blocking file calls (a write and its flush, a direct read: each
/// blocks for milliseconds). They keep those calls off the thread pool, whose few threads compress and receive
/// chunks, without a new OS thread per call. Work cancelled while it waits is never run; work already running is
/// left to finish (a write half done must be waited for, not abandoned).</summary>
public sealed class IoThreads : IDisposable
{
    /// <summary>Shared by the repository's local stores: eight calls in flight at once, more than a backup's
    /// parallel chunks on one disk need.</summary>
    public static IoThreads Shared { get; } = new(8, "blueback io");

    private readonly BlockingCollection<WorkItem> _queue = new();

    public IoThreads(int threads, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        for (int i = 0; i < threads; i++)
        {
            // Background threads: an idle one never keeps the process alive.
            new Thread(Work) { IsBackground = true, Name = $"{name} {i}" }.Start();
        }
    }

    /// <summary>Runs <paramref name="work"/> on one of the threads; a cancel before it starts completes the task as
    /// cancelled at once and the work never runs.</summary>
    public Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }
        var item = new WorkItem<T>(work, cancellationToken);
        _queue.Add(item, CancellationToken.None);
        return item.Task;
    }

    private void Work()
    {
        foreach (var item in _queue.GetConsumingEnumerable())
        {
            item.Execute();
        }
    }

    /// <summary>Lets the threads end once the queue is empty; never waits for them.</summary>
    public void Dispose() => _queue.CompleteAdding();

    private abstract class WorkItem
    {
        public abstract void Execute();
    }

    private sealed class WorkItem<T> : WorkItem
    {
        private const int Queued = 0, Running = 1, Cancelled = 2;
        private readonly Func<T> _work;
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenRegistration _registration;
        private int _state;

        public WorkItem(Func<T> work, CancellationToken ct)
        {
            _work = work;
            _registration = ct.Register(() =>
            {
                if (Interlocked.CompareExchange(ref _state, Cancelled, Queued) == Queued)
                {
                    _done.TrySetCanceled(ct);
                }
            });
        }

        public Task<T> Task => _done.Task;

        public override void Execute()
        {
            if (Interlocked.CompareExchange(ref _state, Running, Queued) != Queued)
            {
                return; // cancelled while it waited
            }
            _registration.Dispose();
            try
            {
                _done.TrySetResult(_work());
            }
            catch (Exception ex)
            {
                _done.TrySetException(ex);
            }
        }
    }
}
