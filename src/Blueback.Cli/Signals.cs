using System.Runtime.InteropServices;

namespace Blueback.Cli;

/// <summary>Ctrl+C and SIGTERM: the first asks the running command to stop (its token fires), the second exits at
/// once with 130. One registration for the whole process, made first thing in Main (<see cref="Install"/>): a ^C
/// while the program is still starting is a graceful stop too. Registered only inside a command, a ^C in the first
/// second of a cold start (before the command ran) was lost where the signal was inherited as ignored, and would
/// otherwise have killed the process outright. Cancellation runs on a thread of its own, never inside the signal
/// handler. The runtime's signal thread keeps the user's priority when a command lowers its own (Niceness), and so do
/// the threads it starts here: a command whose work runs at a low priority can bound its stop (<see cref="BoundStop"/>).</summary>
internal sealed partial class Signals : IDisposable
{
    private static readonly CancellationTokenSource Stop = new();
    private static readonly Lock InstallLock = new();
    private static PosixSignalRegistration? s_interrupt;
    private static PosixSignalRegistration? s_terminate;
    private static int s_count;
    private static BoundedStop? s_bound;

    /// <summary>How long a stop of low-priority or repository-bound work may take (<see cref="BoundStop"/>).</summary>
    public static readonly TimeSpan LowPriorityStopBound = TimeSpan.FromSeconds(3);

    /// <summary>Makes sure the process's registration exists (idempotent).</summary>
    public Signals() => Install();

    /// <summary>Registers the handlers for the process; called at the start of Main, before anything slow.</summary>
    public static void Install()
    {
        lock (InstallLock)
        {
            s_interrupt ??= PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
            s_terminate ??= PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
        }
    }

    public CancellationToken Token => Stop.Token;

    /// <summary>The process's stop (the first ^C or SIGTERM), for code that holds no <see cref="Signals"/>.</summary>
    public static CancellationToken ProcessStop => Stop.Token;

    /// <summary>Whether a signal has come.</summary>
    public static bool Stopped => Volatile.Read(ref s_count) > 0;

    public bool Signalled => Stopped;

    /// <summary>A SIGTERM this soon after the first signal is the same stop sent twice, not an operator's second:
    /// <c>timeout</c> sends SIGTERM to the program and then to its whole process group, so the program got two at once
    /// and exited at once, its partial work left behind. A second Ctrl+C (SIGINT) always counts.</summary>
    public static readonly TimeSpan DuplicateTerminateWindow = TimeSpan.FromSeconds(1);

    private static long s_firstSignal;

    private static void Handle(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Volatile.Read(ref s_count) > 0 && context.Signal == PosixSignal.SIGTERM
            && System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref s_firstSignal)) < DuplicateTerminateWindow)
        {
            return; // the first stop's duplicate: the graceful stop goes on
        }
        if (Interlocked.Increment(ref s_count) == 1)
        {
            Volatile.Write(ref s_firstSignal, System.Diagnostics.Stopwatch.GetTimestamp());
            if (Volatile.Read(ref s_bound) is { } bound)
            {
                new Thread(() => EndAfter(bound.Bound, bound.What, bound.Cleanup)) { IsBackground = true, Name = Blueback.IO.Niceness.StopThreadPrefix + "bound" }.Start();
            }
            new Thread(static () => Stop.Cancel()) { IsBackground = true, Name = Blueback.IO.Niceness.StopThreadPrefix + "cancel" }.Start();
            return;
        }
        Console.Error.WriteLine("blueback: second signal, exiting at once.");
        Environment.Exit(Output.Cancelled);
    }

    /// <summary>For work whose graceful stop may not come: a read blocked in the kernel on a hung volume (no token
    /// reaches it), or work at a lowered priority on a saturated machine (the soak saw a proof's ^C not end within
    /// 10 s). Once stopped, the process ends by itself after <paramref name="bound"/> if the work has not finished by
    /// then: a thread at the user's priority runs <paramref name="cleanup"/> (what a graceful stop would have
    /// removed), says so, and exits 130 at once, as a second Ctrl+C would.</summary>
    public void BoundStop(TimeSpan bound, string what, Action cleanup) => Volatile.Write(ref s_bound, new BoundedStop(bound, what, cleanup));

    private sealed record BoundedStop(TimeSpan Bound, string What, Action Cleanup);

    private static void EndAfter(TimeSpan bound, string what, Action cleanup)
    {
        Thread.Sleep(bound);
        try
        {
            cleanup();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            what += $" (and removing what it left failed: {ex.Message})";
        }
        // Written to the descriptor directly: a starved thread may hold the console writer's lock.
        using (var stderr = Console.OpenStandardError())
        {
            stderr.Write(System.Text.Encoding.UTF8.GetBytes($"\nblueback: cancelled; the work did not stop within {bound.TotalSeconds:0.#} s (a read blocked on its volume, or work held back at a low priority), so the program ended it: {what}.\n"));
        }
        ExitNow(Output.Cancelled); // no runtime shutdown: it could wait for the starved threads
    }

    /// <summary>The process's exit: a command stopped by a signal has already removed what it wrote and said so, so it
    /// ends at once (its output flushed) rather than through the runtime's shutdown, which costs a stopped program
    /// about 15 ms for nothing it still needs. Any other exit takes the runtime's normal path.</summary>
    public static int Finish(int exit)
    {
        if (exit == Output.Cancelled && Volatile.Read(ref s_count) > 0 && !OperatingSystem.IsWindows())
        {
            Console.Out.Flush();
            Console.Error.Flush();
            ExitNow(exit);
        }
        return exit;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitNow(int status);

    /// <summary>Nothing to release: the registration lasts as long as the process.</summary>
    public void Dispose()
    {
    }
}
