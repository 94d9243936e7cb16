using System.Collections.Concurrent;
using Blueback.IO;

namespace Blueback.Server.Backups;

/// <summary>Threads at a lower CPU priority (Linux nice) for the server's backup reads: reading and checking every
/// page of an image is the server's largest share of a backup's work, and the instance's own clients come first.
/// When the cores are idle a backup runs at full speed; when writers need them, the scheduler gives the backup
/// what is left, so writes keep their rate (docs/benchmarks.md, "writers during backups"). Elsewhere, or where the
/// priority cannot be lowered, the threads run at normal priority.</summary>
internal sealed class BackgroundPriority : TaskScheduler, IDisposable
{
    /// <summary>The default nice value of the threads (config "backupReadNice"): about a tenth of a normal
    /// thread's share of a busy core, never starved (a backup must still end while writers run flat out). 19 also
    /// takes the idle class, which keeps writers better but can all but stop a backup on a host with no idle core
    /// (docs/benchmarks.md, "Writers during full backups").</summary>
    public const int DefaultNice = Niceness.Background;

    private readonly BlockingCollection<Task> _queue = new();
    private readonly Thread[] _threads;
    private readonly int _nice;

    public BackgroundPriority(int threads, string name, int nice = DefaultNice)
    {
        _nice = nice;
        _threads = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(Work) { IsBackground = true, Name = $"{name}-{i}" };
            _threads[i].Start();
        }
    }

    public override int MaximumConcurrencyLevel => _threads.Length;

    /// <summary>Runs <paramref name="work"/> on one of the threads.</summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(work, cancellationToken, TaskCreationOptions.DenyChildAttach, this);

    private void Work()
    {
        Niceness.LowerThisThread(_nice);
        if (_nice >= Niceness.Lowest)
        {
            // The lowest also takes the idle scheduling class, as `blueback prove --nice 19` does: a waking client
            // thread then always takes the core at once, where a nice thread's small share still delays it.
            Niceness.IdleThisThread();
        }
        try
        {
            foreach (var task in _queue.GetConsumingEnumerable())
            {
                TryExecuteTask(task);
            }
        }
        catch (ObjectDisposedException)
        {
            // The server is stopping.
        }
    }

    protected override void QueueTask(Task task)
    {
        try
        {
            _queue.Add(task);
        }
        catch (InvalidOperationException)
        {
            // Added after the server began stopping: run it anyway rather than leave its caller waiting.
            ThreadPool.UnsafeQueueUserWorkItem(_ => TryExecuteTask(task), null);
        }
    }

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();

    public void Dispose()
    {
        // Queued reads still run (on the pool) so no caller waits for ever; the threads end once the queue is empty.
        _queue.CompleteAdding();
    }
}
