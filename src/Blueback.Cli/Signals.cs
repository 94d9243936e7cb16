using System.Runtime.InteropServices;

namespace Blueback.Cli;

/// <summary>Ctrl+C and SIGTERM: the first asks the running command to stop (its token fires), the second exits at
/// once with 130. One registration for the whole process, made first thing in Main (<see cref="Install"/>): a ^C
/// while the program is still starting is a graceful stop too. Registered only inside a command, a ^C in the first
/// second of a cold start (before the command ran) was lost where the signal was inherited as ignored, and would
/// otherwise have killed the process outright. Cancellation runs on a thread of its own, never inside the signal
/// handler.</summary>
internal sealed class Signals : IDisposable
{
    private static readonly CancellationTokenSource Stop = new();
    private static readonly Lock InstallLock = new();
    private static PosixSignalRegistration? s_interrupt;
    private static PosixSignalRegistration? s_terminate;
    private static int s_count;

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

    public bool Signalled => Volatile.Read(ref s_count) > 0;

    private static void Handle(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref s_count) == 1)
        {
            new Thread(static () => Stop.Cancel()) { IsBackground = true, Name = "blueback-cancel" }.Start();
            return;
        }
        Console.Error.WriteLine("blueback: second signal, exiting at once.");
        Environment.Exit(Output.Cancelled);
    }

    /// <summary>Nothing to release: the registration lasts as long as the process.</summary>
    public void Dispose()
    {
    }
}
